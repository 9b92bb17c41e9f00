// The built worker process (services/worker/dist/main.js) on a tiny model, fed jobs through BullMQ
// and read back through the job streams, as the API sees them.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { writeModelDir } from '@sambay/engine/model';
import {
  decodeStreamEvent,
  encodeStreamEvent,
  type GenerateJobData,
  type GenerateJobResult,
  type JobRequest,
  QueueKeys,
  type StreamEvent,
} from '@sambay/protocol';
import { connectRedis, deleteKeys, testPrefix } from './helpers/redis.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker-process.js';

const TTL = 300;
const prefix = testPrefix();
const keys = new QueueKeys(prefix);
const redis = connectRedis();
const queueConnection = connectRedis();
const queue = new Queue<GenerateJobData, GenerateJobResult>(keys.queueName, {
  prefix: keys.bullPrefix,
  connection: queueConnection,
});
let modelDir: string;
let worker: WorkerProcess;

before(async () => {
  modelDir = await mkdtemp(join(tmpdir(), 'sambay-worker-model-'));
  await writeModelDir(modelDir, { preset: 'tiny', seed: 0 });
  worker = await startWorkerProcess({
    QUEUE_PREFIX: prefix,
    MODEL_DIR: modelDir,
    // Short flushes, so even a short job's tokens arrive in several chunks.
    STREAM_FLUSH_MS: '5',
    RESULT_TTL_SECONDS: String(TTL),
    WORKER_MAX_SEQUENCES: '4',
    SHUTDOWN_GRACE_MS: '300',
  });
});

after(async () => {
  await worker?.stop('SIGKILL');
  await queue.close();
  await deleteKeys(redis, prefix);
  await Promise.all([redis.quit(), queueConnection.quit()]);
  if (modelDir) await rm(modelDir, { recursive: true, force: true });
});

const request = (overrides: Partial<JobRequest>): JobRequest => ({
  prompt: 'the cat sat on the mat',
  max_tokens: 48,
  temperature: 0.9,
  top_p: 1,
  top_k: 0,
  seed: 11,
  stop: [],
  priority: 0,
  metadata: {},
  ...overrides,
});

const add = (id: string, overrides: Partial<JobRequest>) =>
  queue.add('generate', { request: request(overrides), batchId: null, submittedAt: Date.now() }, { jobId: id });

const readStream = async (id: string): Promise<StreamEvent[]> =>
  (await redis.xrange(keys.jobStream(id), '-', '+')).map(([, fields]) => decodeStreamEvent(fields));

const tokenChunks = (events: StreamEvent[]) => events.flatMap((e) => (e.type === 'tokens' ? [e] : []));

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value) return value;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}\n${worker.output().slice(-2000)}`);
}

/** Waits for the job's terminal stream event and BullMQ's record of its return value. */
async function finished(id: string) {
  const events = await waitFor(`${id} to end`, async () => {
    const events = await readStream(id);
    return events.some((e) => e.type === 'done' || e.type === 'error') && events;
  });
  const job = await waitFor(`${id} to complete in BullMQ`, async () => {
    const job = await queue.getJob(id);
    return job?.returnvalue ? job : null;
  });
  return { events, result: job.returnvalue };
}

/** Asserts chunk indexes run 0, 1, 2, ... with no gap or overlap, and returns all token ids. */
function contiguousTokens(events: StreamEvent[]): number[] {
  let next = 0;
  for (const chunk of tokenChunks(events)) {
    assert.equal(chunk.index, next, 'each chunk starts where the previous ended');
    next += chunk.token_ids.length;
  }
  return tokenChunks(events).flatMap((c) => c.token_ids);
}

test('a job streams status, contiguous token chunks and done; the stream text is the result; keys expire', async () => {
  await add('plain', { max_tokens: 48 });
  const { events, result } = await finished('plain');
  assert.deepEqual(events[0], { type: 'status', status: 'running' });
  const tokens = contiguousTokens(events);
  assert.ok(tokenChunks(events).length > 1, 'tokens arrive in several chunks, not all at the end');
  assert.ok(tokenChunks(events).length < tokens.length || tokens.length <= 2, 'chunks group tokens');
  const text = tokenChunks(events)
    .map((c) => c.text)
    .join('');
  assert.equal(text, result.text);
  assert.ok(result.text.length > 0);
  assert.equal(result.usage.completion_tokens, tokens.length);
  assert.ok(result.finish_reason === 'length' ? tokens.length === 48 : result.finish_reason === 'eos_token');
  const done = events.at(-1)!;
  assert.ok(done.type === 'done' && done.status === 'completed');
  assert.deepEqual(done.result, result);
  const state = await redis.hgetall(keys.jobState('plain'));
  assert.equal(state.status, 'completed');
  assert.equal(await redis.get(keys.jobText('plain')), result.text);
  assert.equal(state.finish_reason, result.finish_reason);
  for (const key of [keys.jobStream('plain'), keys.jobState('plain'), keys.jobText('plain')]) {
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 0 && ttl <= TTL, `${key} expires (ttl ${ttl})`);
  }
});

test('a cancel published on the cancel channel stops a long job within a few steps', async () => {
  await add('long', { max_tokens: 20_000, temperature: 0 });
  await waitFor('first tokens', async () => tokenChunks(await readStream('long')).length > 0);
  await redis.publish(keys.cancelChannel, 'long');
  const cancelledAt = contiguousTokens(await readStream('long')).length;
  const { events, result } = await finished('long');
  assert.equal(result.finish_reason, 'cancelled');
  const done = events.at(-1)!;
  assert.ok(done.type === 'done' && done.status === 'cancelled');
  const generated = contiguousTokens(events).length;
  assert.ok(generated < 20_000 && generated >= cancelledAt, `stopped after ${generated} tokens`);
  assert.equal(
    tokenChunks(events)
      .map((c) => c.text)
      .join(''),
    result.text,
  );
  const state = await redis.hgetall(keys.jobState('long'));
  assert.equal(state.status, 'cancelled');
  assert.equal(state.finish_reason, 'cancelled');
});

test('a retried job continues after the tokens its stream holds: nothing repeated, same text as one run', async () => {
  const same = { max_tokens: 64, temperature: 0.8, top_k: 40, seed: 5 };
  await add('whole', same);
  const whole = await finished('whole');
  const chunks = tokenChunks(whole.events);
  assert.ok(chunks.length >= 2, 'the uninterrupted run needs at least two chunks to split');
  // An earlier attempt that died after writing the first half of its chunks.
  const kept = chunks.slice(0, Math.ceil(chunks.length / 2));
  await redis.xadd(keys.jobStream('resumed'), '*', ...encodeStreamEvent({ type: 'status', status: 'running' }));
  for (const chunk of kept) await redis.xadd(keys.jobStream('resumed'), '*', ...encodeStreamEvent(chunk));

  await add('resumed', same);
  const resumed = await finished('resumed');
  assert.deepEqual(contiguousTokens(resumed.events), contiguousTokens(whole.events));
  assert.deepEqual(resumed.events.slice(1, 1 + kept.length), kept, 'the earlier chunks are left as they were');
  assert.equal(
    tokenChunks(resumed.events)
      .map((c) => c.text)
      .join(''),
    whole.result.text,
  );
  assert.equal(resumed.result.text, whole.result.text);
  assert.equal(resumed.result.finish_reason, whole.result.finish_reason);
  assert.equal(resumed.events.filter((e) => e.type === 'status').length, 1);
});

test('SIGTERM hands a running job back after the grace period; the next worker resumes it without repeats', async () => {
  await add('handed', { max_tokens: 20_000, temperature: 0 });
  await waitFor('first tokens', async () => tokenChunks(await readStream('handed')).length > 0);
  assert.equal(await worker.stop('SIGTERM'), 0);
  assert.equal(await (await queue.getJob('handed'))!.getState(), 'waiting', 'back in the queue, not left to stall');
  const before = await readStream('handed');
  assert.ok(!before.some((e) => e.type === 'done' || e.type === 'error'));
  const handedBack = contiguousTokens(before).length;

  worker = await startWorkerProcess({ QUEUE_PREFIX: prefix, MODEL_DIR: modelDir, STREAM_FLUSH_MS: '5' });
  await waitFor(
    'the next worker to add tokens',
    async () => contiguousTokens(await readStream('handed')).length > handedBack,
  );
  await redis.publish(keys.cancelChannel, 'handed');
  const { events, result } = await finished('handed');
  const tokens = contiguousTokens(events);
  assert.deepEqual(tokens.slice(0, handedBack), contiguousTokens(before));
  assert.equal(
    tokenChunks(events)
      .map((c) => c.text)
      .join(''),
    result.text,
  );
  assert.equal(events.filter((e) => e.type === 'status').length, 1);
  assert.equal(await worker.stop('SIGTERM'), 0);
});
