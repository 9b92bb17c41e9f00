// Chaos, end to end: the built API and three worker processes on a Redis of this test's own (AOF on,
// so it can restart with its data), four seeded ignore_eos jobs followed over SSE, while workers are
// SIGKILLed (one job's worker three times) and replaced, one is SIGTERMed and Redis restarts. Every
// job must end with the text of an uninterrupted run and every follower must see each token once.
// Recovery times are printed, not asserted (speed is for benchmarks); the time limits below only
// keep a broken run from hanging.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { writeModelDir } from '@sambay/engine/model';
import { decodeStreamEvent, type JobRequest, QueueKeys, type StreamEvent } from '@sambay/protocol';
import { startApiProcess } from './helpers/api-process.js';
import type { JobAccepted } from './helpers/api-types.js';
import { referenceOutputs } from './helpers/engine-reference.js';
import { postJson } from './helpers/http.js';
import { RedisServer } from './helpers/redis-server.js';
import { testPrefix } from './helpers/redis.js';
import { followSse } from './helpers/sse-follower.js';
import { waitFor } from './helpers/wait.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker-process.js';

const JOB = { temperature: 0.9, top_p: 1, top_k: 0, stop: [], ignore_eos: true, priority: 0, metadata: {} };
const REQUESTS: JobRequest[] = [
  { ...JOB, prompt: 'the job killed three times', max_tokens: 1500, seed: 1 },
  { ...JOB, prompt: 'the job handed back on SIGTERM', max_tokens: 2000, seed: 2 },
  { ...JOB, prompt: 'another job', max_tokens: 2000, seed: 3 },
  { ...JOB, prompt: 'and one more', max_tokens: 1500, seed: 4 },
];
/** Tokens the killed-three-times job generates between two faults. */
const TOKENS_BETWEEN_FAULTS = 150;

const parse = (data: string) => JSON.parse(data) as StreamEvent;

test('jobs survive SIGKILLed workers, a SIGTERM and a Redis restart with their uninterrupted text', async (t) => {
  const redisServer = await RedisServer.start();
  const modelDir = await mkdtemp(join(tmpdir(), 'sambay-chaos-model-'));
  await writeModelDir(modelDir, { preset: 'tiny', seed: 0 });
  const prefix = testPrefix();
  const keys = new QueueKeys(prefix);
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  // Refused connections while Redis restarts are expected; commands wait for the reconnect.
  redis.on('error', () => undefined);
  const env = {
    REDIS_URL: redisServer.url,
    QUEUE_PREFIX: prefix,
    MODEL_DIR: modelDir,
    WORKER_MAX_SEQUENCES: '2',
    SHUTDOWN_GRACE_MS: '200',
    STREAM_FLUSH_MS: '20',
  };
  const workers: WorkerProcess[] = [];
  const api = await startApiProcess(env);
  t.after(async () => {
    await Promise.all([api, ...workers].map((p) => p.stop('SIGKILL')));
    redis.disconnect();
    await redisServer.destroy();
    await rm(modelDir, { recursive: true, force: true });
  });
  const startWorker = async () => {
    const worker = await startWorkerProcess(env);
    workers.push(worker);
    return worker;
  };
  await Promise.all([startWorker(), startWorker(), startWorker()]);
  const expected = await referenceOutputs(modelDir, REQUESTS);

  const ids: string[] = [];
  for (const request of REQUESTS) {
    const reply = await postJson<JobAccepted>(`${api.url}/v1/jobs`, request);
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    ids.push(reply.body.id);
  }
  const followers = ids.map((id) => followSse(`${api.url}/v1/jobs/${id}/events`));

  const generated = async (id: string) => Number(await redis.hget(keys.jobState(id), 'generated_tokens'));
  const ended = async (id: string) =>
    ['completed', 'failed', 'cancelled'].includes((await redis.hget(keys.jobState(id), 'status')) ?? '');
  /** The worker process running a job now (BullMQ's processedBy is `host:pid`). */
  const holder = async (id: string) => {
    const processedBy = await redis.hget(`${keys.bullPrefix}:${keys.queueName}:${id}`, 'pb');
    const pid = Number(processedBy?.split(':').at(-1));
    return workers.find((w) => w.child.pid === pid && w.child.exitCode === null && w.child.signalCode === null);
  };
  const logs = () => workers.map((w) => w.output().slice(-1500)).join('\n---\n');
  const waitTokens = (id: string, atLeast: number) =>
    waitFor(`${id} at ${atLeast} tokens`, async () => (await generated(id)) >= atLeast, {
      timeoutMs: 30_000,
      detail: logs,
    });
  /** Ms from now until the job's stream gets its next tokens. */
  const nextTokensAfter = async (id: string, from: number) => {
    const [last] = await redis.xrevrange(keys.jobStream(id), '+', '-', 'COUNT', 1);
    let cursor = last?.[0] ?? '0-0';
    for (;;) {
      const reply = await redis.xread('BLOCK', 30_000, 'STREAMS', keys.jobStream(id), cursor);
      assert.ok(reply, `${id}: no event within 30 s of a kill\n${logs()}`);
      for (const [entryId, fields] of reply[0]![1]) {
        cursor = entryId;
        if (decodeStreamEvent(fields).type === 'tokens') return Date.now() - from;
      }
    }
  };

  const [killedThrice, handedBack] = [ids[0]!, ids[1]!];
  await waitTokens(killedThrice, 50);
  // SIGTERM: the worker hands its jobs back within its grace period and exits.
  const terminated = await waitFor('a holder of the SIGTERM job', () => holder(handedBack), { detail: logs });
  assert.equal(await terminated.stop('SIGTERM'), 0, 'the SIGTERMed worker exits cleanly');
  const replacing = [startWorker()];
  await waitTokens(killedThrice, (await generated(killedThrice)) + TOKENS_BETWEEN_FAULTS);
  await redisServer.stop();
  await redisServer.restart();

  const recoveries: number[] = [];
  for (let kill = 1; kill <= 3; kill++) {
    await waitTokens(killedThrice, (await generated(killedThrice)) + TOKENS_BETWEEN_FAULTS);
    const worker = await waitFor(`the holder of ${killedThrice}`, () => holder(killedThrice), { detail: logs });
    const killedAt = Date.now();
    await worker.stop('SIGKILL');
    replacing.push(startWorker());
    recoveries.push(await nextTokensAfter(killedThrice, killedAt));
  }
  await Promise.all(replacing);

  const results = await Promise.all(followers);
  await waitFor('every job ended', async () => (await Promise.all(ids.map(ended))).every(Boolean), {
    timeoutMs: 60_000,
    detail: logs,
  });
  t.diagnostic(
    `chaos: recovery after SIGKILL (kill to next token) ${recoveries.map((ms) => `${ms} ms`).join(', ')}; ` +
      `SSE reconnects ${results.map((r) => r.reconnects).join(', ')}`,
  );
  results.forEach(({ events }, i) => {
    const data = events.map((e) => parse(e.data));
    const last = data.at(-1);
    assert.ok(last?.type === 'done', `job ${i} ends with done, got ${JSON.stringify(last)}`);
    assert.equal(data.filter((e) => e.type === 'done' || e.type === 'error').length, 1, `job ${i}: one terminal event`);
    let next = 0;
    const tokenIds: number[] = [];
    let text = '';
    for (const chunk of data) {
      if (chunk.type !== 'tokens') continue;
      assert.equal(chunk.index, next, `job ${i}: each token once, in order`);
      next += chunk.token_ids.length;
      tokenIds.push(...chunk.token_ids);
      text += chunk.text;
    }
    assert.equal(tokenIds.length, REQUESTS[i]!.max_tokens, `job ${i}: ignore_eos generates to max_tokens`);
    assert.deepEqual(tokenIds, expected[i]!.tokenIds, `job ${i}: the tokens of an uninterrupted run`);
    assert.equal(text, expected[i]!.text);
    assert.equal(last.result.text, expected[i]!.text);
  });
});
