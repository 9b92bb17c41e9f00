// The built worker process on the tiny preset model, fed jobs through BullMQ and read back through
// the job streams, as the API sees them: streaming and result, cancel over pub/sub, resume of a
// retried job. (SIGTERM hand-back: service-worker-shutdown.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeStreamEvent } from '@sambay/protocol';
import { chunkText, contiguousTokens, tokenChunks } from './helpers/job-stream.js';
import { useWorkers } from './helpers/worker-fixture.js';

const TTL = 300;

const w = useWorkers({
  // Short flushes, so even a short job's tokens arrive in several chunks.
  STREAM_FLUSH_MS: '5',
  RESULT_TTL_SECONDS: String(TTL),
  WORKER_MAX_SEQUENCES: '4',
  SHUTDOWN_GRACE_MS: '300',
});

test('a job streams status, contiguous token chunks and done; the stream text is the result; keys expire', async () => {
  const { keys, redis } = w;
  await w.add('plain', { max_tokens: 48 });
  const { events, result } = await w.finished('plain');
  assert.deepEqual(events[0], { type: 'status', status: 'running' });
  const tokens = contiguousTokens(events);
  assert.ok(tokenChunks(events).length > 1, 'tokens arrive in several chunks, not all at the end');
  assert.ok(tokenChunks(events).length < tokens.length || tokens.length <= 2, 'chunks group tokens');
  assert.equal(chunkText(events), result.text);
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
  const { keys, redis } = w;
  // ignore_eos: greedy decoding of this prompt ends within a second, so it would race the cancel.
  await w.add('long', { max_tokens: 20_000, temperature: 0, ignore_eos: true });
  await w.waitFor('first tokens', async () => tokenChunks(await w.read('long')).length > 0);
  await redis.publish(keys.cancelChannel, 'long');
  const cancelledAt = contiguousTokens(await w.read('long')).length;
  const { events, result } = await w.finished('long');
  assert.equal(result.finish_reason, 'cancelled');
  const done = events.at(-1)!;
  assert.ok(done.type === 'done' && done.status === 'cancelled');
  const generated = contiguousTokens(events).length;
  assert.ok(generated < 20_000 && generated >= cancelledAt, `stopped after ${generated} tokens`);
  assert.equal(chunkText(events), result.text);
  const state = await redis.hgetall(keys.jobState('long'));
  assert.equal(state.status, 'cancelled');
  assert.equal(state.finish_reason, 'cancelled');
});

test('a retried job continues after the tokens its stream holds: nothing repeated, same text as one run', async () => {
  const { keys, redis } = w;
  const same = { max_tokens: 64, temperature: 0.8, top_k: 40, seed: 5 };
  await w.add('whole', same);
  const whole = await w.finished('whole');
  const chunks = tokenChunks(whole.events);
  assert.ok(chunks.length >= 2, 'the uninterrupted run needs at least two chunks to split');
  // An earlier attempt that died after writing the first half of its chunks.
  const kept = chunks.slice(0, Math.ceil(chunks.length / 2));
  await redis.xadd(keys.jobStream('resumed'), '*', ...encodeStreamEvent({ type: 'status', status: 'running' }));
  for (const chunk of kept) await redis.xadd(keys.jobStream('resumed'), '*', ...encodeStreamEvent(chunk));

  await w.addRetried('resumed', same);
  const resumed = await w.finished('resumed');
  assert.deepEqual(contiguousTokens(resumed.events), contiguousTokens(whole.events));
  assert.deepEqual(resumed.events.slice(1, 1 + kept.length), kept, 'the earlier chunks are left as they were');
  assert.equal(chunkText(resumed.events), whole.result.text);
  assert.equal(resumed.result.text, whole.result.text);
  assert.equal(resumed.result.finish_reason, whole.result.finish_reason);
  assert.equal(resumed.events.filter((e) => e.type === 'status').length, 1);
});
