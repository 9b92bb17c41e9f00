// The built API process (no worker): a batch is accepted whole, and GET /v1/batches/:id lists its
// jobs in order with counts per status.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import type { BatchAccepted, BatchView, JobView } from './helpers/api-types.js';

const JOB_ID = /^job_[0-9a-f-]{36}$/;

const ctx = useApi();

test('a batch is accepted whole and its counts follow cancellation', async () => {
  const res = await ctx.post<BatchAccepted>('/v1/jobs', {
    jobs: [
      { prompt: 'a', seed: 1 },
      { prompt: 'b', seed: 2 },
      { prompt: 'c', seed: 3 },
    ],
  });
  assert.equal(res.status, 202);
  assert.match(res.body.batch_id, /^batch_[0-9a-f-]{36}$/);
  const ids = res.body.jobs.map((j) => j.id);
  assert.equal(ids.length, 3);
  for (const id of ids) assert.match(id, JOB_ID);

  const batch = (await ctx.get<BatchView>(`/v1/batches/${res.body.batch_id}`)).body;
  assert.equal(batch.id, res.body.batch_id);
  assert.deepEqual(
    batch.jobs.map((j) => j.id),
    ids,
  );
  assert.deepEqual(
    batch.jobs.map((j) => (j.status === 'expired' ? undefined : j.seed)),
    [1, 2, 3],
  );
  assert.deepEqual(batch.counts, {
    total: 3,
    queued: 3,
    running: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    expired: 0,
  });
  const member = (await ctx.get<JobView>(`/v1/jobs/${ids[1]}`)).body;
  assert.equal(member.batch_id, res.body.batch_id);

  assert.equal((await ctx.post(`/v1/jobs/${ids[0]}/cancel`, {})).status, 202);
  const after = (await ctx.get<BatchView>(`/v1/batches/${res.body.batch_id}`)).body;
  assert.equal(after.counts.cancelled, 1);
  assert.equal(after.counts.queued, 2);
});
