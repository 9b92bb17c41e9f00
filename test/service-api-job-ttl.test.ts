// Every key a job leaves in Redis expires, BullMQ's job hash (which holds the whole request)
// included: while the job waits, after it is cancelled, and after a worker completed or cancelled it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import type { BatchAccepted, CancelAccepted, JobView } from './helpers/api-types.js';
import { keysWithoutTtl } from './helpers/key-ttls.js';
import { waitFor } from './helpers/wait.js';
import { useWorkers } from './helpers/worker-fixture.js';

const RESULT_TTL_SECONDS = 600;

describe('jobs no worker has taken', () => {
  const ctx = useApi({ RESULT_TTL_SECONDS: String(RESULT_TTL_SECONDS) });

  test('a waiting job and a waiting batch: every key expires, the BullMQ job hash with the pending TTL', async () => {
    const id = await ctx.submit({ prompt: 'waits' });
    const batch = await ctx.post<BatchAccepted>('/v1/jobs', { jobs: [{ prompt: 'a' }, { prompt: 'b' }] });
    assert.equal(batch.status, 202);
    for (const job of [id, ...batch.body.jobs.map((j) => j.id)]) {
      const ttl = await ctx.redis.ttl(ctx.keys.bullJob(job));
      assert.ok(ttl > RESULT_TTL_SECONDS, `BullMQ's hash of ${job} expires after the pending TTL (${ttl})`);
    }
    assert.deepEqual(await keysWithoutTtl(ctx.redis, ctx.keys), []);
  });

  test('a cancelled waiting job leaves only keys that expire', async () => {
    await ctx.cancelledJob({ prompt: 'cancelled' });
    assert.deepEqual(await keysWithoutTtl(ctx.redis, ctx.keys), []);
  });
});

describe('jobs a worker ran', () => {
  const workers = useWorkers({ RESULT_TTL_SECONDS: String(RESULT_TTL_SECONDS) });
  // The API on the workers' prefix, so they share one queue.
  const ctx = useApi({ QUEUE_PREFIX: workers.prefix, RESULT_TTL_SECONDS: String(RESULT_TTL_SECONDS) });
  const status = async (id: string) => (await ctx.get<JobView>(`/v1/jobs/${id}`)).body.status;

  test('completed and cancelled-while-running jobs leave only keys that expire', async () => {
    const done = await ctx.submit({ prompt: 'short', max_tokens: 4, ignore_eos: true });
    const long = await ctx.submit({ prompt: 'long', max_tokens: 4000, ignore_eos: true });
    await workers.waitFor('the long job to run', async () => (await status(long)) === 'running');
    const cancel = await ctx.post<CancelAccepted>(`/v1/jobs/${long}/cancel`, {});
    assert.equal(cancel.status, 202);
    await workers.waitFor('both jobs to end', async () => {
      const statuses = [await status(done), await status(long)];
      return statuses[0] === 'completed' && statuses[1] === 'cancelled';
    });
    // BullMQ moves a job to completed after the worker's last write; wait for both records.
    await waitFor('BullMQ to finish both jobs', async () => {
      const jobs = await Promise.all([done, long].map((id) => workers.queue.getJob(id)));
      return jobs.every((job) => job?.finishedOn !== undefined);
    });
    const workerKeys = workers.keys;
    assert.deepEqual(await keysWithoutTtl(ctx.redis, workerKeys), []);
  });
});
