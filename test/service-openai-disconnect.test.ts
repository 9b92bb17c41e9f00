// A client that goes away cancels its jobs: at once for a non-streamed request, after the resume
// grace period for a stream (unless it reconnects in time). No worker runs, so jobs stay queued.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type OpenAI from 'openai';
import { SERVED_MODEL, useOpenAi } from './helpers/openai-fixture.js';
import { postSse } from './helpers/openai-sse.js';
import { waitFor } from './helpers/wait.js';

const GRACE_MS = 1500;
const fx = useOpenAi({ worker: false, apiEnv: { STREAM_RESUME_GRACE_MS: String(GRACE_MS) } });

const body: OpenAI.ChatCompletionCreateParamsNonStreaming = {
  model: SERVED_MODEL,
  messages: [{ role: 'user', content: 'hi' }],
  max_completion_tokens: 8,
};

async function status(jobId: string): Promise<string> {
  const res = await fetch(fx.url(`/v1/jobs/${jobId}`));
  return ((await res.json()) as { status: string }).status;
}

/** The job ids of this fixture's queue (only one test's jobs exist at a time). */
async function queuedJobs(): Promise<string[]> {
  const keys = await fx.redis.keys(`${fx.prefix}:job:*:state`);
  return keys.map((k) => k.slice(`${fx.prefix}:job:`.length, -':state'.length));
}

test('a non-streaming request whose client disconnects has its job cancelled', async () => {
  const controller = new AbortController();
  const request = fx.client.chat.completions
    .create(
      { ...body, model: SERVED_MODEL, messages: [{ role: 'user', content: 'hi' }] },
      { signal: controller.signal },
    )
    .catch(() => 'aborted');
  const [jobId] = await waitFor('the job to be queued', async () => {
    const ids = await queuedJobs();
    return ids.length === 1 && ids;
  });
  controller.abort();
  assert.equal(await request, 'aborted');
  await waitFor('the job to be cancelled', async () => (await status(jobId!)) === 'cancelled');
  await fx.redis.del(`${fx.prefix}:job:${jobId}:state`);
});

test('a stream whose client reconnects within the grace period keeps its job; one that does not, loses it', async () => {
  const controller = new AbortController();
  const first = await postSse(fx.url('/v1/chat/completions'), { ...body, stream: true }, {}, controller.signal);
  const jobId = first.headers.get('x-sambay-job-ids')!;
  const role = await first.messages.next();
  assert.ok(!role.done);
  controller.abort();

  const again = new AbortController();
  const resumed = await postSse(
    fx.url('/v1/chat/completions'),
    { ...body, stream: true },
    { 'last-event-id': role.value.id! },
    again.signal,
  );
  assert.equal(resumed.status, 200);
  await sleep(GRACE_MS * 2);
  assert.equal(await status(jobId), 'queued');

  again.abort();
  await waitFor('the abandoned job to be cancelled', async () => (await status(jobId)) === 'cancelled', {
    timeoutMs: GRACE_MS * 10,
  });
});
