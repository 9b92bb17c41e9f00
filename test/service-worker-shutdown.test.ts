// SIGTERM on a built worker process (tiny preset model) while it runs a job: the job goes back to
// the queue after the grace period, and the next worker process resumes it from its stream.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chunkText, contiguousTokens, isEnd, tokenChunks } from './helpers/job-stream.js';
import { useWorkers } from './helpers/worker-fixture.js';

const w = useWorkers({ STREAM_FLUSH_MS: '5', SHUTDOWN_GRACE_MS: '300' });

test('SIGTERM hands a running job back after the grace period; the next worker resumes it without repeats', async () => {
  const { keys, redis, queue } = w;
  // ignore_eos: greedy decoding of this prompt ends within a second, sooner than the test needs it running.
  await w.add('handed', { max_tokens: 20_000, temperature: 0, ignore_eos: true });
  await w.waitFor('first tokens', async () => tokenChunks(await w.read('handed')).length > 0);
  assert.equal(await w.worker.stop('SIGTERM'), 0);
  assert.equal(await (await queue.getJob('handed'))!.getState(), 'waiting', 'back in the queue, not left to stall');
  const before = await w.read('handed');
  assert.ok(!before.some(isEnd));
  const handedBack = contiguousTokens(before).length;

  const next = await w.startWorker();
  await w.waitFor(
    'the next worker to add tokens',
    async () => contiguousTokens(await w.read('handed')).length > handedBack,
  );
  await redis.publish(keys.cancelChannel, 'handed');
  const { events, result } = await w.finished('handed');
  const tokens = contiguousTokens(events);
  assert.deepEqual(tokens.slice(0, handedBack), contiguousTokens(before));
  assert.equal(chunkText(events), result.text);
  assert.equal(events.filter((e) => e.type === 'status').length, 1);
  assert.equal(await next.stop('SIGTERM'), 0);
});

test("a worker's compiled-model directory goes with it; a killed worker's goes at the next worker's start", async () => {
  const dirOf = (worker: { child: { pid?: number } }) => join(tmpdir(), `sambay-worker-${worker.child.pid}`);
  const stopped = await w.startWorker();
  assert.ok(existsSync(join(dirOf(stopped), 'weights.bin')), 'the engine compiled the model into it');
  assert.equal(await stopped.stop('SIGTERM'), 0);
  assert.equal(existsSync(dirOf(stopped)), false);

  const killed = await w.startWorker();
  await killed.stop('SIGKILL');
  assert.ok(existsSync(dirOf(killed)), 'a killed worker cannot remove it');
  const next = await w.startWorker();
  assert.equal(existsSync(dirOf(killed)), false);
  assert.equal(await next.stop('SIGTERM'), 0);
});
