// The OpenAI-compatible /v1/models and /v1/completions, driven with the official `openai` client
// against the built API and a worker on the tiny model.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import { SERVED_MODEL, useOpenAi } from './helpers/openai-fixture.js';

const fx = useOpenAi();

/** A completion request with every sampling parameter explicit; `ignore_eos` so the text is long enough to cut. */
const request = (overrides: Partial<OpenAI.CompletionCreateParamsNonStreaming> = {}) => ({
  model: SERVED_MODEL,
  prompt: 'Once upon a time',
  max_tokens: 24,
  temperature: 0.8,
  seed: 1234,
  ignore_eos: true,
  ...overrides,
});

/** Sends a body the client's types do not allow (unknown or unsupported parameters). */
const raw = (body: object) => body as unknown as OpenAI.CompletionCreateParamsNonStreaming;

async function apiError(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(error instanceof OpenAI.APIError, `expected an APIError, got ${String(error)}`);
  return error;
}

describe('GET /v1/models', () => {
  test('lists the served model', async () => {
    const models = await fx.client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      [SERVED_MODEL],
    );
    assert.equal((await fx.client.models.retrieve(SERVED_MODEL)).id, SERVED_MODEL);
  });
});

describe('POST /v1/completions', () => {
  test('answers in OpenAI shape with usage', async () => {
    const completion = await fx.client.completions.create(request());
    assert.equal(completion.object, 'text_completion');
    assert.match(completion.id, /^cmpl-/);
    assert.equal(completion.model, SERVED_MODEL);
    assert.equal(completion.choices.length, 1);
    assert.equal(completion.choices[0]!.finish_reason, 'length');
    assert.ok(completion.choices[0]!.text.length > 0);
    const usage = completion.usage!;
    assert.equal(usage.completion_tokens, 24);
    assert.ok(usage.prompt_tokens > 0);
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  });

  test('the same seed gives the same text; n=2 gives two choices, the first the n=1 one', async () => {
    const [a, b, two] = await Promise.all([
      fx.client.completions.create(request()),
      fx.client.completions.create(request()),
      fx.client.completions.create(request({ n: 2 })),
    ]);
    assert.equal(a.choices[0]!.text, b.choices[0]!.text);
    assert.deepEqual(
      two.choices.map((c) => c.index),
      [0, 1],
    );
    assert.equal(two.choices[0]!.text, a.choices[0]!.text);
    assert.notEqual(two.choices[1]!.text, a.choices[0]!.text);
    // The prompt is counted once, the completions of both choices summed.
    assert.equal(two.usage!.prompt_tokens, a.usage!.prompt_tokens);
    assert.equal(two.usage!.completion_tokens, 48);
  });

  test('a stop string ends the text just before it, with finish_reason stop', async () => {
    const full = (await fx.client.completions.create(request())).choices[0]!.text;
    // An ASCII letter or digit past the start: one character, whatever the bytes around it decode to.
    const stop = /^.{2,}?([A-Za-z0-9])/su.exec(full)?.[1];
    assert.ok(stop, `no ASCII character to stop at in ${JSON.stringify(full)}`);
    const cut = await fx.client.completions.create(request({ stop: [stop] }));
    assert.equal(cut.choices[0]!.finish_reason, 'stop');
    assert.equal(cut.choices[0]!.text, full.slice(0, full.indexOf(stop)));
  });

  test('streams text_completion chunks whose text is the non-streamed text, then usage', async () => {
    const full = (await fx.client.completions.create(request())).choices[0]!.text;
    const stream = await fx.client.completions.create({
      ...request(),
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const reasons: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'text_completion');
      for (const choice of chunk.choices) {
        text += choice.text;
        reasons.push(choice.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, full);
    assert.equal(reasons.at(-1), 'length');
    assert.equal(usage?.completion_tokens, 24);
  });
});

describe('POST /v1/completions errors', () => {
  test('an unknown parameter is a 400 naming it', async () => {
    const error = await apiError(fx.client.completions.create(raw({ ...request(), frobnicate: 1 })));
    assert.equal(error.status, 400);
    assert.equal(error.param, 'frobnicate');
    assert.equal(error.code, 'unsupported_parameter');
    assert.equal(error.type, 'invalid_request_error');
  });

  test('what the engine cannot do is refused, not ignored; its neutral value passes', async () => {
    for (const [param, value] of [
      ['logprobs', 2],
      ['presence_penalty', 0.5],
      ['echo', true],
      ['min_tokens', 4],
    ] as const) {
      const error = await apiError(fx.client.completions.create(raw({ ...request(), [param]: value })));
      assert.equal(error.status, 400, param);
      assert.equal(error.param, param);
      assert.equal(error.code, 'unsupported_parameter');
    }
    const ok = await fx.client.completions.create(
      raw({ ...request(), presence_penalty: 0, logprobs: null, user: 'u1' }),
    );
    assert.equal(ok.choices.length, 1);
  });

  test('an invalid value names its parameter; an unknown model is a 404', async () => {
    const bad = await apiError(fx.client.completions.create(request({ temperature: -1 })));
    assert.equal(bad.status, 400);
    assert.equal(bad.param, 'temperature');
    const tokens = await apiError(fx.client.completions.create(request({ prompt: [1, 2, 3] })));
    assert.equal(tokens.param, 'prompt');
    const model = await apiError(fx.client.completions.create(request({ model: 'gpt-4o' })));
    assert.equal(model.status, 404);
    assert.equal(model.code, 'model_not_found');
    assert.equal(model.param, 'model');
  });
});
