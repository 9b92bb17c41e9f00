// Queue position: the API's `queue_position` over HTTP follows priority, and the queuePosition()
// it is computed with (LPOS on BullMQ's wait list, ZRANK on its prioritized set) agrees with the
// order BullMQ's public getters report and its Worker actually takes jobs in, so a BullMQ upgrade
// that changed that order fails here.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { Queue, Worker } from 'bullmq';
import { queuePosition } from '@sambay/api/queue/queue-position';
import { PRIORITY_MAX, PRIORITY_MIN, QueueKeys, toBullPriority } from '@sambay/protocol';
import { useApi } from './helpers/api-fixture.js';
import type { JobView } from './helpers/api-types.js';
import { connectRedis, deleteKeys, testPrefix } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';

describe('queue_position over HTTP', () => {
  const ctx = useApi();

  test('queue_position follows priority (higher first), FIFO within a priority', async () => {
    const submit = (priority: number) => ctx.submit({ prompt: 'p', priority });
    const low = await submit(-5);
    const first = await submit(100);
    const second = await submit(100);
    const position = async (id: string) => (await ctx.get<JobView>(`/v1/jobs/${id}`)).body.queue_position;
    const [p1, p2, pLow] = [await position(first), await position(second), await position(low)];
    assert.ok(p1 !== null && p2 !== null && pLow !== null, 'queued jobs have a position');
    assert.equal(p2, p1 + 1);
    assert.ok(pLow > p2, `low priority at ${pLow}, after ${p2}`);
    assert.equal(p1, 0, 'the highest priority job is next even though others were queued before it');
  });
});

describe('queuePosition against BullMQ', () => {
  interface Data {
    n: number;
  }
  /** A job to add: our priority (as the API maps it with toBullPriority), or null for none (BullMQ's wait list). */
  type Spec = [id: string, priority: number | null];

  /** A queue of its own for one test, closed and deleted when the test ends. */
  function setup(t: TestContext) {
    const keys = new QueueKeys(testPrefix());
    const redis = connectRedis();
    /** BullMQ leaves connections it was given open. */
    const connections = [redis];
    const connect = () => {
      const connection = connectRedis();
      connections.push(connection);
      return connection;
    };
    const queue = new Queue<Data>(keys.queueName, { prefix: keys.bullPrefix, connection: connect() });
    const workers: Worker[] = [];
    t.after(async () => {
      await Promise.all(workers.map((w) => w.close()));
      await queue.close();
      await deleteKeys(redis, keys.prefix);
      await Promise.all(connections.map((c) => c.quit()));
    });
    const bullOptions = ([jobId, priority]: Spec) =>
      priority === null ? { jobId } : { jobId, priority: toBullPriority(priority) };
    /** One add per job, in order. */
    const add = async (specs: Spec[]) => {
      for (const [i, spec] of specs.entries()) await queue.add('generate', { n: i }, bullOptions(spec));
    };
    /** One addBulk, as the API submits a batch. */
    const addBulk = (specs: Spec[]) =>
      queue.addBulk(specs.map((spec, i) => ({ name: 'generate', data: { n: i }, opts: bullOptions(spec) })));
    /**
     * The order BullMQ's public getters report: the wait list, then the prioritized set. (In BullMQ
     * 5, getWaiting() already lists the wait list from its right end, the next job first; no
     * reversal is needed, and assertPositions checks that against a Worker.)
     */
    const getterOrder = async () => [
      ...(await queue.getWaiting()).map((job) => job.id),
      ...(await queue.getPrioritized()).map((job) => job.id),
    ];
    /** Starts a Worker of concurrency 1 and returns the ids in the order it takes them, once it has taken `n`. */
    const takeAll = async (n: number) => {
      const taken: (string | undefined)[] = [];
      const worker = new Worker<Data>(
        keys.queueName,
        (job) => {
          taken.push(job.id);
          return Promise.resolve();
        },
        { prefix: keys.bullPrefix, connection: connect(), concurrency: 1 },
      );
      workers.push(worker);
      await waitFor(`the worker to take ${n} jobs`, () => taken.length >= n);
      await worker.close();
      return taken;
    };
    /**
     * Asserts every job's queuePosition is its index in the getters' order, and that this is the
     * order a Worker takes the jobs in (which empties the queue).
     */
    const assertPositions = async (ids: string[]) => {
      const order = await getterOrder();
      assert.deepEqual([...order].sort(), [...ids].sort(), 'every job is waiting or prioritized');
      for (const id of ids) assert.equal(await queuePosition(redis, queue, id), order.indexOf(id), `position of ${id}`);
      assert.deepEqual(await takeAll(ids.length), order, 'a Worker takes the jobs in the order the getters report');
      return order;
    };
    return { redis, queue, add, addBulk, assertPositions };
  }

  /** Our priorities, extremes and ties included, in submission order. */
  const prioritized: Spec[] = [
    ['p1', 0],
    ['p2', 5],
    ['p3', PRIORITY_MIN],
    ['p4', 5],
    ['p5', PRIORITY_MAX],
    ['p6', 0],
    ['p7', -3],
    ['p8', PRIORITY_MAX],
    ['p9', 5],
  ];
  /** Higher priority first, FIFO within a priority: what queue_position promises. */
  const byPriority = (specs: Spec[]) =>
    specs
      .map(([id, priority], i) => ({ id, priority: priority ?? 0, i }))
      .sort((a, b) => b.priority - a.priority || a.i - b.i)
      .map((s) => s.id);

  test('prioritized jobs, added one by one: position = index in getPrioritized() = the order a Worker takes them', async (t) => {
    const { add, assertPositions } = setup(t);
    await add(prioritized);
    const order = await assertPositions(prioritized.map(([id]) => id));
    assert.deepEqual(order, byPriority(prioritized));
  });

  test('prioritized jobs added in one addBulk (a batch) and one by one: the same order', async (t) => {
    const { add, addBulk, assertPositions } = setup(t);
    await addBulk(prioritized.slice(0, 5));
    await add(prioritized.slice(5));
    const order = await assertPositions(prioritized.map(([id]) => id));
    assert.deepEqual(order, byPriority(prioritized));
  });

  test('jobs without a priority (the wait list) come first, oldest first, then the prioritized set', async (t) => {
    const { add, assertPositions } = setup(t);
    const mixed: Spec[] = [
      ['w1', null],
      ['m1', 5],
      ['m2', PRIORITY_MAX],
      ['w2', null],
      ['m3', 5],
      ['w3', null],
      ['m4', PRIORITY_MIN],
    ];
    await add(mixed);
    const order = await assertPositions(mixed.map(([id]) => id));
    assert.deepEqual(order, ['w1', 'w2', 'w3', 'm2', 'm1', 'm3', 'm4']);
  });

  test('after jobs are removed (as a cancel removes a queued one), the others move up', async (t) => {
    const { redis, queue, add, assertPositions } = setup(t);
    const mixed: Spec[] = [['w1', null], ['w2', null], ['w3', null], ...prioritized];
    await add(mixed);
    const removed = ['w2', 'p5', 'p4'];
    for (const id of removed) assert.equal(await queue.remove(id), 1);
    for (const id of removed) assert.equal(await queuePosition(redis, queue, id), null);
    const left = mixed.map(([id]) => id).filter((id) => !removed.includes(id));
    const order = await assertPositions(left);
    assert.deepEqual(order, ['w1', 'w3', ...byPriority(prioritized.filter(([id]) => !removed.includes(id)))]);
  });
});
