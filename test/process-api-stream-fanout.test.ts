// The API's shared reader of job streams (StreamFanout) in this process against a real Redis: followers
// that start anywhere in a stream, join while the shared read is blocked, consume slowly, or lose the
// reader's connection each get exactly the entries after their start, in order: no gap, no repeat.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { StreamFanout } from '@sambay/api/sse/stream-fanout';
import type { StreamFollower } from '@sambay/api/sse/stream-follower';
import { encodeStreamEvent, QueueKeys, type StreamEvent } from '@sambay/protocol';
import { connectRedis, deleteKeys, testPrefix } from './helpers/redis.js';

const prefix = testPrefix();
const keys = new QueueKeys(prefix);
let redis: Redis;
let reader: Redis;
let readerId: number;
let fanout: StreamFanout;

before(async () => {
  redis = connectRedis();
  reader = connectRedis();
  // Asked now: once the reader blocks, a command on its connection would wait behind the XREAD.
  readerId = await reader.client('ID');
  fanout = new StreamFanout({ reader, redis, keys, logger: pino({ level: 'silent' }) });
});
after(async () => {
  await fanout.close();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

const tokens = (index: number): StreamEvent => ({ type: 'tokens', index, token_ids: [index], text: 'x' });

/** Appends entries `from`..`to - 1` (their `index`) to the stream, in pipelines of `chunk`. */
async function append(key: string, from: number, to: number, chunk: number): Promise<void> {
  for (let i = from; i < to; i += chunk) {
    const pipe = redis.pipeline();
    for (let j = i; j < Math.min(to, i + chunk); j += 1) pipe.xadd(key, '*', ...encodeStreamEvent(tokens(j)));
    await pipe.exec();
    await sleep(1);
  }
}

/** The `index` of every entry the follower gives until it has `count` of them; `pause` between reads simulates a slow client. */
async function collect(follower: StreamFollower, count: number, pauseMs = 0): Promise<number[]> {
  const seen: number[] = [];
  while (seen.length < count) {
    const entries = await follower.next(5000);
    assert.ok(entries.length > 0, `no entry within 5 s after ${seen.length} of ${count}`);
    for (const { event } of entries) seen.push((event as { index: number }).index);
    if (pauseMs > 0) await sleep(pauseMs);
  }
  return seen;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** The id of the entry with `index`: a follower started from it continues at index + 1. */
async function idOf(key: string, index: number): Promise<string> {
  const entries = await redis.xrange(key, '-', '+');
  return entries[index]![0];
}

test('followers from the start, from the middle, joining mid-read and reading slowly each get their entries once, in order', async () => {
  const key = keys.jobStream('job_fanout-order');
  await append(key, 0, 300, 50);
  const fromStart = fanout.follow([{ key, after: '0-0' }]);
  const fromMiddle = fanout.follow([{ key, after: await idOf(key, 149) }]);
  const slow = fanout.follow([{ key, after: '0-0' }]);
  let late: StreamFollower | null = null;
  try {
    const writing = append(key, 300, 3000, 37);
    const early = [collect(fromStart, 3000), collect(fromMiddle, 2850), collect(slow, 3000, 20)];
    // Joins while the writer runs and the shared read may be blocked, from an entry the others are past.
    await sleep(100);
    late = fanout.follow([{ key, after: await idOf(key, 99) }]);
    const [a, b, c, d] = await Promise.all([...early, collect(late, 2900)]);
    await writing;
    assert.deepEqual(a, range(0, 3000));
    assert.deepEqual(b, range(150, 3000));
    assert.deepEqual(c, range(0, 3000));
    assert.deepEqual(d, range(100, 3000));
  } finally {
    for (const f of [fromStart, fromMiddle, slow, late]) f?.close();
  }
  assert.equal(fanout.streamCount, 0, 'closed followers are let go');
});

test('one follower over several streams; a follower joining a stream the blocked read does not name is woken', async () => {
  const [a, b] = [keys.jobStream('job_fanout-a'), keys.jobStream('job_fanout-b')];
  const both = fanout.follow([
    { key: a, after: '0-0' },
    { key: b, after: '0-0' },
  ]);
  const other = keys.jobStream('job_fanout-other');
  const waiting = fanout.follow([{ key: other, after: '0-0' }]);
  try {
    // `waiting` alone: the shared read blocks on its stream only (30 s), then `both` joins.
    assert.deepEqual(await waiting.next(200), []);
    const got = collect(both, 20);
    await append(a, 0, 10, 3);
    await append(b, 10, 20, 3);
    assert.deepEqual(
      (await got).sort((x, y) => x - y),
      range(0, 20),
    );
  } finally {
    both.close();
    waiting.close();
  }
});

test('when the reader loses its connection, followers go on with no gap', async () => {
  const key = keys.jobStream('job_fanout-kill');
  const follower = fanout.follow([{ key, after: '0-0' }]);
  try {
    await append(key, 0, 50, 10);
    const first = await collect(follower, 50);
    await redis.client('KILL', 'ID', String(readerId));
    await append(key, 50, 100, 10);
    assert.deepEqual([...first, ...(await collect(follower, 50))], range(0, 100));
  } finally {
    follower.close();
  }
});
