// The OpenAI-compatible /v1/chat/completions with the official `openai` client: the default chat
// template (the tiny model ships none), streaming with `delta`s, n > 1, resuming a stream with
// Last-Event-ID, and errors in OpenAI's shape.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { SERVED_MODEL, useOpenAi } from './helpers/openai-fixture.js';
import { postSse, type DataMessage } from './helpers/openai-sse.js';

const fx = useOpenAi();

const messages: OpenAI.ChatCompletionMessageParam[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Tell me a story.' },
  { role: 'assistant', content: 'Once.' },
  { role: 'user', content: 'Go on.' },
];

const request = (overrides: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {}) => ({
  model: SERVED_MODEL,
  messages,
  max_completion_tokens: 20,
  temperature: 0.7,
  seed: 99,
  ignore_eos: true,
  ...overrides,
});

type Chunk = OpenAI.ChatCompletionChunk;

async function apiError(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(error instanceof OpenAI.APIError, `expected an APIError, got ${String(error)}`);
  return error;
}

describe('POST /v1/chat/completions', () => {
  test('answers a chat.completion with an assistant message and usage', async () => {
    const completion = await fx.client.chat.completions.create(request());
    assert.equal(completion.object, 'chat.completion');
    assert.match(completion.id, /^chatcmpl-/);
    const choice = completion.choices[0]!;
    assert.equal(choice.message.role, 'assistant');
    assert.ok(choice.message.content && choice.message.content.length > 0);
    assert.equal(choice.finish_reason, 'length');
    assert.equal(completion.usage?.completion_tokens, 20);
    // The default template wraps each message: the prompt is longer than the messages' text.
    const text = messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join('');
    assert.ok(completion.usage.prompt_tokens > text.length);
  });

  test('text parts are the string content; seeds reproduce; n=2 gives two choices', async () => {
    const parts: OpenAI.ChatCompletionMessageParam[] = [
      ...messages.slice(0, 3),
      { role: 'user', content: [{ type: 'text', text: 'Go on.' }] },
    ];
    const [a, b, two] = await Promise.all([
      fx.client.chat.completions.create(request()),
      fx.client.chat.completions.create(request({ messages: parts })),
      fx.client.chat.completions.create(request({ n: 2 })),
    ]);
    assert.equal(b.choices[0]!.message.content, a.choices[0]!.message.content);
    assert.equal(two.choices.length, 2);
    assert.equal(two.choices[0]!.message.content, a.choices[0]!.message.content);
    assert.notEqual(two.choices[1]!.message.content, a.choices[0]!.message.content);
  });

  test('streams chat.completion.chunk deltas: the role first, the text, the finish reason, the usage', async () => {
    const full = (await fx.client.chat.completions.create(request({ n: 2 }))).choices.map((c) => c.message.content);
    const stream = await fx.client.chat.completions.create({
      ...request({ n: 2 }),
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: Chunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    for (const index of [0, 1]) {
      const mine = chunks.flatMap((c) => c.choices.filter((choice) => choice.index === index));
      assert.equal(mine[0]!.delta.role, 'assistant');
      assert.equal(mine.map((c) => c.delta.content ?? '').join(''), full[index]);
      assert.equal(mine.at(-1)!.finish_reason, 'length');
    }
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage?.completion_tokens, 40);
  });

  test('a stream continues after Last-Event-ID with no gap and no repeat, and runs no new job', async () => {
    const body = { ...request(), stream: true };
    const full = (await fx.client.chat.completions.create(request())).choices[0]!.message.content;
    const first = await postSse(fx.url('/v1/chat/completions'), body);
    const jobIds = first.headers.get('x-sambay-job-ids');
    const seen: DataMessage[] = [];
    for await (const message of first.messages) {
      seen.push(message);
      if (seen.length === 2) break; // the role chunk and one text chunk
    }
    const lastId = seen.at(-1)!.id!;
    const resumed = await postSse(fx.url('/v1/chat/completions'), body, { 'last-event-id': lastId });
    assert.equal(resumed.status, 200);
    assert.equal(resumed.headers.get('x-sambay-job-ids'), jobIds);
    const rest: DataMessage[] = [];
    for await (const message of resumed.messages) rest.push(message);
    assert.equal(rest.at(-1)!.data, '[DONE]');
    const content = [...seen, ...rest.slice(0, -1)]
      .map((m) => (JSON.parse(m.data) as Chunk).choices[0]?.delta.content ?? '')
      .join('');
    assert.equal(content, full);
  });
});

describe('POST /v1/chat/completions errors', () => {
  test('tool and image messages, tools and logprobs are refused naming the parameter', async () => {
    const cases: [object, string][] = [
      [{ messages: [{ role: 'tool', content: 'x', tool_call_id: 't' }] }, 'messages[0].role'],
      [
        { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x' } }] }] },
        'messages[0].content',
      ],
      [{ tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools'],
      [{ logprobs: true }, 'logprobs'],
      [{ response_format: { type: 'json_object' } }, 'response_format'],
      [{ stream_options: { include_usage: true } }, 'stream_options'],
    ];
    for (const [overrides, param] of cases) {
      const body = { ...request(), ...overrides } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming;
      const error = await apiError(fx.client.chat.completions.create(body));
      assert.equal(error.status, 400, param);
      assert.equal(error.param, param);
    }
  });

  test('a Last-Event-ID of no stream is refused', async () => {
    const bad = await postSse(fx.url('/v1/chat/completions'), { ...request(), stream: true }, { 'last-event-id': 'x' });
    assert.equal(bad.status, 400);
    const gone = await postSse(
      fx.url('/v1/chat/completions'),
      { ...request(), stream: true },
      { 'last-event-id': 'chatcmpl-nope/1-0' },
    );
    assert.equal(gone.status, 404);
  });
});
