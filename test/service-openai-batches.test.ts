// The Batch API with the official `openai` client: a JSONL upload with bad lines (one over
// MAX_PROMPT_TOKENS), a batch run to completion through the queue, its output and error files,
// listing, and a cancelled batch.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { SERVED_MODEL, useOpenAi, type OpenAiFixture } from './helpers/openai-fixture.js';
import { waitFor } from './helpers/wait.js';

const MAX_BATCH_LINES = 8;
const MAX_PROMPT_TOKENS = 400;

interface OutputLine {
  id: string;
  custom_id: string | null;
  response: { status_code: number; request_id: string | null; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

const chatLine = (customId: string, body: object = {}) =>
  JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: SERVED_MODEL, messages: [{ role: 'user', content: `hello ${customId}` }], max_tokens: 6, ...body },
  });

async function upload(fx: OpenAiFixture, lines: string[]): Promise<OpenAI.FileObject> {
  const file = await toFile(Buffer.from(`${lines.join('\n')}\n`), 'requests.jsonl');
  return fx.client.files.create({ file, purpose: 'batch' });
}

async function contentLines(fx: OpenAiFixture, fileId: string | null | undefined): Promise<OutputLine[]> {
  assert.ok(fileId, 'expected a file id');
  const text = await (await fx.client.files.content(fileId)).text();
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as OutputLine);
}

const ended = (fx: OpenAiFixture, id: string, status: OpenAI.Batch['status']) =>
  waitFor(
    `batch ${id} to be ${status}`,
    async () => {
      const batch = await fx.client.batches.retrieve(id);
      return batch.status === status && batch;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );

describe('a batch from upload to output file', () => {
  const fx = useOpenAi({
    apiEnv: { MAX_BATCH_LINES: String(MAX_BATCH_LINES), MAX_PROMPT_TOKENS: String(MAX_PROMPT_TOKENS) },
  });

  test('runs the good lines as jobs and puts the bad ones in the error file', async () => {
    const input = await upload(fx, [
      chatLine('a'),
      '{ not json',
      chatLine('b', { n: 2, seed: 5 }),
      chatLine('bad-param', { temperature: 'hot' }),
      '',
      chatLine('c', { stop: ['\n'] }),
      chatLine('long', {
        messages: [{ role: 'user', content: Array.from({ length: 500 }, (_, i) => `w${i}`).join(' ') }],
      }),
    ]);
    assert.equal(input.purpose, 'batch');
    assert.equal(input.object, 'file');

    const created = await fx.client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { suite: 'openai' },
    });
    assert.equal(created.object, 'batch');
    assert.equal(created.status, 'validating');
    assert.deepEqual(created.metadata, { suite: 'openai' });

    const batch = await ended(fx, created.id, 'completed');
    assert.deepEqual(batch.request_counts, { total: 6, completed: 3, failed: 3 });
    assert.ok(batch.in_progress_at && batch.finalizing_at && batch.completed_at);

    const output = await contentLines(fx, batch.output_file_id);
    assert.deepEqual(output.map((l) => l.custom_id).sort(), ['a', 'b', 'c']);
    for (const line of output) {
      assert.equal(line.error, null);
      assert.equal(line.response?.status_code, 200);
      assert.equal(line.response.body.object, 'chat.completion');
      assert.match(line.id, /^batch_req_/);
    }
    const b = output.find((l) => l.custom_id === 'b')!;
    assert.equal((b.response!.body.choices as unknown[]).length, 2);

    const errors = await contentLines(fx, batch.error_file_id);
    assert.equal(errors.length, 3);
    const unparsable = errors.find((l) => l.custom_id === null)!;
    assert.equal(unparsable.error?.code, 'invalid_json_line');
    const invalid = errors.find((l) => l.custom_id === 'bad-param')!;
    assert.equal(invalid.response?.status_code, 400);
    assert.equal((invalid.response.body.error as { param: string }).param, 'temperature');
    const long = errors.find((l) => l.custom_id === 'long')!;
    assert.equal(long.response?.status_code, 400, 'counted in tokens as the online routes count them');
    assert.match((long.response.body.error as { message: string }).message, /tokens long; at most 400/);

    const outputFile = await fx.client.files.retrieve(batch.output_file_id!);
    assert.equal(outputFile.purpose, 'batch_output');
  });

  test('lists batches newest first with cursor pagination', async () => {
    const input = await upload(fx, [chatLine('x')]);
    const first = await fx.client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const second = await fx.client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const page = await fx.client.batches.list({ limit: 1 });
    assert.equal(page.data.length, 1);
    assert.ok(page.has_more);
    const ids: string[] = [];
    for await (const batch of fx.client.batches.list({ limit: 1 })) ids.push(batch.id);
    assert.equal(ids.length, new Set(ids).size);
    assert.ok(ids.indexOf(second.id) < ids.indexOf(first.id));
    assert.ok(ids.includes(first.id) && ids.includes(second.id));
  });

  test('files are listed, retrieved and deleted; uploads over the limits or of another purpose are refused', async () => {
    const input = await upload(fx, [chatLine('y')]);
    const listed = await fx.client.files.list({ purpose: 'batch' });
    assert.ok(listed.data.some((f) => f.id === input.id));
    assert.equal((await fx.client.files.retrieve(input.id)).bytes, input.bytes);
    assert.deepEqual(await fx.client.files.delete(input.id), { id: input.id, object: 'file', deleted: true });
    const gone = await fx.client.files.retrieve(input.id).catch((e: unknown) => e);
    assert.ok(gone instanceof OpenAI.NotFoundError);

    const tooMany = Array.from({ length: MAX_BATCH_LINES + 1 }, (_, i) => chatLine(`l${i}`));
    const refused = await upload(fx, tooMany).catch((e: unknown) => e);
    assert.ok(refused instanceof OpenAI.BadRequestError);
    assert.equal(refused.param, 'file');

    const file = await toFile(Buffer.from(`${chatLine('z')}\n`), 'requests.jsonl');
    const purpose = await fx.client.files.create({ file, purpose: 'fine-tune' }).catch((e: unknown) => e);
    assert.ok(purpose instanceof OpenAI.BadRequestError);
    assert.equal(purpose.param, 'purpose');
  });
});

describe('a cancelled batch', () => {
  // No worker: the batch's jobs stay queued until the cancel.
  const fx = useOpenAi({ worker: false, apiEnv: { BATCH_WINDOW_JOBS: '2' } });

  test('cancels its queued jobs and writes every line it did not run to the error file', async () => {
    const input = await upload(
      fx,
      ['p', 'q', 'r', 's'].map((id) => chatLine(id)),
    );
    const created = await fx.client.batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    await ended(fx, created.id, 'in_progress');
    // The window holds two jobs at a time: the other lines are not queued yet.
    await waitFor('the window to be queued', async () => {
      const keys = await fx.redis.keys(`${fx.prefix}:job:*:state`);
      return keys.length === 2;
    });
    const cancelling = await fx.client.batches.cancel(created.id);
    assert.ok(['cancelling', 'cancelled'].includes(cancelling.status));

    const batch = await ended(fx, created.id, 'cancelled');
    assert.deepEqual(batch.request_counts, { total: 4, completed: 0, failed: 4 });
    assert.equal(batch.output_file_id, null);
    const errors = await contentLines(fx, batch.error_file_id);
    assert.deepEqual(
      errors.map((l) => [l.custom_id, l.error?.code]),
      ['p', 'q', 'r', 's'].map((id) => [id, 'batch_cancelled']),
    );
    const again = await fx.client.batches.cancel(created.id).catch((e: unknown) => e);
    assert.ok(again instanceof OpenAI.APIError && again.status === 409);
  });
});
