// A job's writes against a real Redis: its ending is written once whoever tries, and an attempt
// whose BullMQ lock has moved on can no longer write (so a worker given up for dead cannot add
// tokens after the next attempt started).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { encodeStreamEvent, finalRecord, QueueKeys, writeFinalState } from '@sambay/protocol';
import { recordFailure } from '@sambay/worker/processor/failed-job';
import { queueFencedWrite } from '@sambay/worker/streaming/fenced-write';
import { TokenStreamWriter } from '@sambay/worker/streaming/token-stream-writer';
import { readJobStream } from './helpers/job-stream.js';
import { connectRedis, deleteKeys, testPrefix } from './helpers/redis.js';

let redis: Redis;
const prefix = testPrefix();
const keys = new QueueKeys(prefix);

before(() => {
  redis = connectRedis();
});
after(async () => {
  await deleteKeys(redis, prefix);
  await redis.quit();
});

const newWriter = () => new TokenStreamWriter({ redis, keys, flushMs: 10_000, ttlSeconds: 60, pendingTtlSeconds: 600 });
const failed = (message: string) => finalRecord({ status: 'failed', message, finishedAt: 1 });

test('a job ends once: later endings (another writer, BullMQ failing it) write nothing', async () => {
  const jobId = 'ends-once';
  await redis.hset(keys.jobState(jobId), 'status', 'running');
  const pipe = redis.multi();
  writeFinalState(pipe, keys, jobId, failed('first'), 60);
  writeFinalState(pipe, keys, jobId, failed('second'), 60);
  await pipe.exec();
  await recordFailure(redis, keys, 60, jobId, 'third');
  assert.deepEqual(await readJobStream(redis, keys, jobId), [{ type: 'error', message: 'first' }]);
  assert.equal(await redis.hget(keys.jobState(jobId), 'error'), 'first');
});

test('BullMQ failing a job no attempt ended gives it its error event and failed state', async () => {
  const jobId = 'ghost';
  await redis.hset(keys.jobState(jobId), 'status', 'running');
  await redis.hset(keys.jobCheckpoint(jobId), 'tokens', '3', 'state', 'x');
  await recordFailure(redis, keys, 60, jobId, 'job stalled more than allowable limit');
  assert.deepEqual(await readJobStream(redis, keys, jobId), [
    { type: 'error', message: 'job stalled more than allowable limit' },
  ]);
  assert.equal(await redis.hget(keys.jobState(jobId), 'status'), 'failed');
  assert.equal(await redis.exists(keys.jobCheckpoint(jobId)), 0, 'the checkpoint goes with the ending');
  assert.ok((await redis.ttl(keys.jobStream(jobId))) > 0);
});

test('an attempt whose lock moved on writes nothing more: tokens, checkpoint or ending', async () => {
  const jobId = 'fenced';
  await redis.set(keys.jobLock(jobId), 'attempt-1');
  const writer = newWriter();
  writer.open(jobId, { nextIndex: 0, lockToken: 'attempt-1' });
  writer.append(jobId, [1, 2], 'ab');
  await writer.flush();
  await writer.checkpoint(jobId, { tokens: 1, state: new Uint8Array([9]) });

  // The lock expired and the next attempt took the job.
  await redis.set(keys.jobLock(jobId), 'attempt-2');
  writer.append(jobId, [3], 'c');
  await assert.rejects(writer.flush(), { name: 'StreamWriteError', message: /LOCKLOST/ });
  await assert.rejects(writer.checkpoint(jobId, { tokens: 2, state: new Uint8Array([8]) }), /LOCKLOST/);
  await assert.rejects(writer.finish(jobId, failed('late')), /LOCKLOST/);

  assert.deepEqual(await readJobStream(redis, keys, jobId), [
    { type: 'tokens', index: 0, token_ids: [1, 2], text: 'ab' },
  ]);
  assert.equal(await redis.get(keys.jobText(jobId)), 'ab');
  assert.equal(await redis.hget(keys.jobCheckpoint(jobId), 'tokens'), '1');
  assert.equal(await redis.hget(keys.jobState(jobId), 'status'), null);
});

test('a token chunk sent twice (ioredis resending after a reconnect) is applied once', async () => {
  const jobId = 'resent';
  const fence = { keys, jobId, lockToken: '', ttlSeconds: 600 };
  const chunk = (from: number, ids: number[], text: string) => ({
    entry: encodeStreamEvent({ type: 'tokens', index: from, token_ids: ids, text }),
    text,
    tokens: { from, to: from + ids.length },
    state: { generated_tokens: String(from + ids.length) },
  });
  const pipe = redis.pipeline();
  queueFencedWrite(pipe, fence, chunk(0, [1, 2], 'ab'));
  queueFencedWrite(pipe, fence, chunk(2, [3], 'c'));
  queueFencedWrite(pipe, fence, chunk(2, [3], 'c'));
  queueFencedWrite(pipe, fence, chunk(3, [4], 'd'));
  await pipe.exec();
  assert.deepEqual(await readJobStream(redis, keys, jobId), [
    { type: 'tokens', index: 0, token_ids: [1, 2], text: 'ab' },
    { type: 'tokens', index: 2, token_ids: [3], text: 'c' },
    { type: 'tokens', index: 3, token_ids: [4], text: 'd' },
  ]);
  assert.equal(await redis.get(keys.jobText(jobId)), 'abcd');
  assert.equal(await redis.hget(keys.jobState(jobId), 'stream_tokens'), '4');
});
