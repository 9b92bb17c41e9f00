// The built API process (no worker): submitting a job (202, what it polls as while queued), and
// admission control (429 once MAX_QUEUE_DEPTH jobs wait).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import type { ErrorBody, JobAccepted, JobView } from './helpers/api-types.js';

const JOB_ID = /^job_[0-9a-f-]{36}$/;

describe('submitting a job', () => {
  const ctx = useApi();

  test('a single job is accepted and polls as queued with defaults', async () => {
    const { keys, redis } = ctx;
    const res = await ctx.post<JobAccepted>('/v1/jobs', { prompt: 'hello', metadata: { user: 'u1' } });
    assert.equal(res.status, 202);
    assert.equal(res.body.status, 'queued');
    assert.match(res.body.id, JOB_ID);
    assert.equal(res.headers.get('location'), `/v1/jobs/${res.body.id}`);
    const job = (await ctx.get<JobView>(`/v1/jobs/${res.body.id}`)).body;
    assert.equal(job.status, 'queued');
    assert.equal(typeof job.queue_position, 'number');
    assert.deepEqual(job.progress, { generated_tokens: 0, max_tokens: 256, tokens_per_second: null });
    assert.equal(job.text, '');
    assert.equal(job.finish_reason, null);
    assert.deepEqual(job.metadata, { user: 'u1' });
    assert.equal(job.batch_id, null);
    assert.equal(typeof job.seed, 'number', 'a seed is drawn when none is given');
    assert.ok(Date.parse(job.created_at ?? '') <= Date.now());
    // The stream already holds the queued event, so late subscribers see it.
    const entries = await redis.xrange(keys.jobStream(res.body.id), '-', '+');
    assert.equal(entries.length, 1);
    assert.deepEqual(JSON.parse(entries[0]![1][1]!), { type: 'status', status: 'queued' });
  });
});

describe('admission with MAX_QUEUE_DEPTH 2', () => {
  const ctx = useApi({ MAX_QUEUE_DEPTH: '2' });

  test('429 overloaded once waiting jobs reach MAX_QUEUE_DEPTH, counting a whole batch', async () => {
    const first = await ctx.post<JobAccepted>('/v1/jobs', { prompt: 'one' });
    assert.equal(first.status, 202);
    const batch = await ctx.post<ErrorBody>('/v1/jobs', { jobs: [{ prompt: 'a' }, { prompt: 'b' }] });
    assert.equal(batch.status, 429, 'one waiting + a batch of two is over a depth of two');
    assert.equal(batch.body.error.type, 'overloaded');
    assert.equal((await ctx.post('/v1/jobs', { prompt: 'two' })).status, 202);
    const full = await ctx.post<ErrorBody>('/v1/jobs', { prompt: 'three' });
    assert.equal(full.status, 429);
    assert.deepEqual(Object.keys(full.body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(full.body.error.type, 'overloaded');
  });
});
