import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueueDepthGauge } from '@sambay/api/admission/queue-depth-gauge';

/** A gauge over a depth the test sets, counting reads, on a clock the test moves. */
function gauge(maxAgeMs = 250) {
  const world = { depth: 0, reads: 0, clock: 0 };
  const read = () => {
    world.reads += 1;
    return Promise.resolve(world.depth);
  };
  return { world, gauge: new QueueDepthGauge(read, maxAgeMs, () => world.clock) };
}

test('a reading serves its max age, counting the jobs enqueued since; then the next one is taken', async () => {
  const { world, gauge: g } = gauge();
  assert.deepEqual(await g.admits(1, 10), { admitted: true, depth: 0 });
  g.enqueued(1);
  world.depth = 1;
  world.clock = 200;
  assert.deepEqual(await g.admits(2, 10), { admitted: true, depth: 1 });
  g.enqueued(2);
  assert.equal(world.reads, 1, 'no round trip while the reading is fresh');
  world.depth = 0; // workers took them all
  world.clock = 300;
  assert.deepEqual(await g.admits(1, 10), { admitted: true, depth: 0 });
  assert.equal(world.reads, 2);
});

test('a refusal is decided by a fresh reading: the estimate errs high', async () => {
  const { world, gauge: g } = gauge();
  await g.admits(0, 2);
  g.enqueued(2);
  world.depth = 1; // a worker started one of them
  assert.deepEqual(
    await g.admits(1, 2),
    { admitted: true, depth: 1 },
    'the estimate (2) would refuse; the reading admits',
  );
  g.enqueued(1);
  world.depth = 2;
  assert.deepEqual(await g.admits(1, 2), { admitted: false, depth: 2 });
  assert.equal(world.reads, 3);
});

test('concurrent submissions share one reading; jobs enqueued while it is out stay counted', async () => {
  let release!: (depth: number) => void;
  let reads = 0;
  const g = new QueueDepthGauge(() => {
    reads += 1;
    return new Promise<number>((resolve) => (release = resolve));
  });
  const a = g.admits(1, 5);
  const b = g.admits(1, 5);
  g.enqueued(3); // another submission's jobs, enqueued while the reading is out
  release(0);
  assert.deepEqual(await Promise.all([a, b]), [
    { admitted: true, depth: 3 },
    { admitted: true, depth: 3 },
  ]);
  assert.equal(reads, 1);
});
