// The worker's token stream writer in this process against a real Redis: batching, order, TTLs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { QueueKeys } from '@sambay/protocol';
import { TokenStreamWriter } from '@sambay/worker/streaming/token-stream-writer';
import { readJobStream } from './helpers/job-stream.js';
import { connectRedis, deleteKeys, testPrefix } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';

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

const readStream = (jobId: string) => readJobStream(redis, keys, jobId);

test('tokens of several jobs within one interval go out in one pipelined write, one chunk per job', async () => {
  // The writer's own connection, with its round trips counted.
  const inner = connectRedis();
  const spy = { count: 0 };
  const original = inner.pipeline.bind(inner);
  inner.pipeline = (...args: Parameters<Redis['pipeline']>) => {
    spy.count += 1;
    return original(...args);
  };
  const writer = new TokenStreamWriter({ redis: inner, keys, flushMs: 40, ttlSeconds: 60, pendingTtlSeconds: 600 });
  writer.open('a', { nextIndex: 0 });
  writer.open('b', { nextIndex: 0 });
  for (let t = 0; t < 100; t++) {
    writer.append('a', [t], 'x');
    writer.append('b', [1000 + t], 'y', { generated_tokens: String(t + 1) });
  }
  // The timed flush has run once b's state (its last write) is there.
  await waitFor('the timed flush', async () => (await redis.hget(keys.jobState('b'), 'generated_tokens')) === '100');
  assert.equal(spy.count, 1, 'one round trip for 200 token events');
  const [a, b] = [await readStream('a'), await readStream('b')];
  assert.deepEqual(a, [{ type: 'tokens', index: 0, token_ids: [...Array(100).keys()], text: 'x'.repeat(100) }]);
  assert.equal(b.length, 1);
  assert.deepEqual(await redis.hgetall(keys.jobState('b')), { generated_tokens: '100', stream_tokens: '100' });
  assert.equal(await redis.get(keys.jobText('b')), 'y'.repeat(100));
  await inner.quit();
});

test('chunks are contiguous, in order with other events, and finish sets the TTL', async () => {
  const writer = new TokenStreamWriter({ redis, keys, flushMs: 15, ttlSeconds: 77, pendingTtlSeconds: 600 });
  const jobId = 'c';
  await redis.append(keys.jobText(jobId), 'earlier ');
  writer.open(jobId, { nextIndex: 5 });
  for (let t = 0; t < 30; t++) {
    writer.append(jobId, [t], `${t} `);
    if (t === 10)
      await writer.write(jobId, { type: 'progress', generated_tokens: 11, max_tokens: 30, tokens_per_second: 1 });
    await sleep(2);
  }
  const result = {
    text: 'r',
    finish_reason: 'length' as const,
    usage: { prompt_tokens: 1, completion_tokens: 35, total_tokens: 36 },
    timings: { queue_ms: 0, time_to_first_token_ms: 0, total_ms: 0 },
  };
  await writer.finish(jobId, {
    event: { type: 'done', status: 'completed', result },
    state: { status: 'completed' },
    result,
  });

  const events = await readStream(jobId);
  const chunks = events.filter((e) => e.type === 'tokens');
  assert.ok(chunks.length >= 2 && chunks.length < 30, `tokens were grouped (${chunks.length} chunks for 30 tokens)`);
  let next = 5;
  for (const chunk of chunks) {
    assert.equal(chunk.index, next, 'indexes continue where the last chunk ended');
    next += chunk.token_ids.length;
  }
  assert.deepEqual(
    chunks.flatMap((c) => c.token_ids),
    [...Array(30).keys()],
  );
  const progressAt = events.findIndex((e) => e.type === 'progress');
  const tokensBefore = events.slice(0, progressAt).flatMap((e) => (e.type === 'tokens' ? e.token_ids : []));
  assert.deepEqual(tokensBefore, [...Array(11).keys()], 'progress comes after the tokens appended before it');
  assert.equal(events.at(-1)!.type, 'done');
  const state = await redis.hgetall(keys.jobState(jobId));
  assert.equal(await redis.get(keys.jobText(jobId)), 'earlier ' + [...Array(30).keys()].map((t) => `${t} `).join(''));
  assert.equal(state.status, 'completed');
  for (const key of [keys.jobStream(jobId), keys.jobState(jobId), keys.jobText(jobId)]) {
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 70 && ttl <= 77, `${key} expires after the TTL (ttl ${ttl})`);
  }
});

test('release writes what is buffered and leaves the stream open, without a TTL', async () => {
  const writer = new TokenStreamWriter({ redis, keys, flushMs: 10_000, ttlSeconds: 60, pendingTtlSeconds: 600 });
  writer.open('d', { nextIndex: 0 });
  writer.append('d', [7, 8], 'ab');
  await writer.release('d');
  assert.deepEqual(await readStream('d'), [{ type: 'tokens', index: 0, token_ids: [7, 8], text: 'ab' }]);
  assert.equal(await redis.ttl(keys.jobStream('d')), -1);
  assert.throws(
    () => {
      writer.append('d', [9], 'c');
    },
    { name: 'StreamWriteError' },
  );
  await writer.flush();
});

test("a job's first token is written at once; later ones wait for the flush interval", async () => {
  const writer = new TokenStreamWriter({ redis, keys, flushMs: 60_000, ttlSeconds: 60, pendingTtlSeconds: 600 });
  writer.open('first', { nextIndex: 0 });
  writer.append('first', [7], 'a');
  await waitFor('the first token', async () => (await readStream('first')).length === 1);
  writer.append('first', [8], 'b');
  await sleep(200);
  assert.equal((await readStream('first')).length, 1, 'the second token waits for the interval');
  writer.open('resumed', { nextIndex: 5 });
  writer.append('resumed', [9], 'c');
  await sleep(200);
  assert.equal((await readStream('resumed')).length, 0, "a resumed job's stream already has its first token");
  await writer.release('first');
  await writer.release('resumed');
});
