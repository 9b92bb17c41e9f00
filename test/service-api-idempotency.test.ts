// The built API process (no worker): POST /v1/jobs with Idempotency-Key. A retry with the same key
// and body gets the first answer and queues nothing; another body under the key is 422; concurrent
// duplicates enqueue once; the record expires.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import type { BatchAccepted, ErrorBody, JobAccepted } from './helpers/api-types.js';

const RESULT_TTL_SECONDS = 900;
const ctx = useApi({ RESULT_TTL_SECONDS: String(RESULT_TTL_SECONDS) });

/** Jobs BullMQ holds under the fixture's prefix. */
async function queuedJobs(): Promise<number> {
  return ctx.redis.zcard(`${ctx.keys.bullPrefix}:${ctx.keys.queueName}:prioritized`);
}

test('a retried single submit returns the first answer (status, body, Location) and queues nothing more', async () => {
  const before = await queuedJobs();
  const headers = { 'idempotency-key': 'single-1' };
  const first = await ctx.post<JobAccepted>('/v1/jobs', { prompt: 'once' }, headers);
  const again = await ctx.post<JobAccepted>('/v1/jobs', { prompt: 'once' }, headers);
  assert.equal(first.status, 202);
  assert.equal(again.status, 202);
  assert.deepEqual(again.body, first.body);
  assert.equal(again.headers.get('location'), first.headers.get('location'));
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal(first.headers.get('idempotent-replayed'), null);
  assert.equal(await queuedJobs(), before + 1);
});

test('a retried batch returns the same batch and job ids', async () => {
  const before = await queuedJobs();
  const body = { jobs: [{ prompt: 'a' }, { prompt: 'b' }] };
  const first = await ctx.post<BatchAccepted>('/v1/jobs', body, { 'idempotency-key': 'batch-1' });
  const again = await ctx.post<BatchAccepted>('/v1/jobs', body, { 'idempotency-key': 'batch-1' });
  assert.equal(first.status, 202);
  assert.deepEqual(again.body, first.body);
  assert.equal(await queuedJobs(), before + 2);
});

test('the same key with another body is 422 and queues nothing', async () => {
  await ctx.post('/v1/jobs', { prompt: 'first' }, { 'idempotency-key': 'reused' });
  const before = await queuedJobs();
  const other = await ctx.post<ErrorBody>('/v1/jobs', { prompt: 'second' }, { 'idempotency-key': 'reused' });
  assert.equal(other.status, 422);
  assert.equal(other.body.error.param, 'Idempotency-Key');
  assert.equal(await queuedJobs(), before);
});

test('20 concurrent submits with one key enqueue one job; every 202 names it, the rest are 409 in progress', async () => {
  const before = await queuedJobs();
  const replies = await Promise.all(
    Array.from({ length: 20 }, () =>
      ctx.post<JobAccepted | ErrorBody>('/v1/jobs', { prompt: 'raced' }, { 'idempotency-key': 'raced' }),
    ),
  );
  assert.equal(await queuedJobs(), before + 1);
  const ids = new Set(replies.filter((r) => r.status === 202).map((r) => (r.body as JobAccepted).id));
  assert.equal(ids.size, 1);
  for (const r of replies.filter((reply) => reply.status !== 202)) {
    assert.equal(r.status, 409);
    assert.equal((r.body as ErrorBody).error.code, 'idempotency_key_in_use');
  }
});

test('different keys, or none, are separate submissions; the record expires after RESULT_TTL_SECONDS', async () => {
  const before = await queuedJobs();
  const a = await ctx.post<JobAccepted>('/v1/jobs', { prompt: 'same' }, { 'idempotency-key': 'k-a' });
  const b = await ctx.post<JobAccepted>('/v1/jobs', { prompt: 'same' }, { 'idempotency-key': 'k-b' });
  const c = await ctx.post<JobAccepted>('/v1/jobs', { prompt: 'same' });
  assert.equal(new Set([a.body.id, b.body.id, c.body.id]).size, 3);
  assert.equal(await queuedJobs(), before + 3);
  const [record] = await ctx.redis.keys(`${ctx.prefix}:idempotency:*`);
  assert.ok(record);
  const ttl = await ctx.redis.ttl(record);
  assert.ok(ttl > 0 && ttl <= RESULT_TTL_SECONDS, String(ttl));
});

test('an invalid body with a key is 422 and does not take the key; a bad key is 422', async () => {
  const bad = await ctx.post<ErrorBody>('/v1/jobs', { prompt: '' }, { 'idempotency-key': 'fixed-later' });
  assert.equal(bad.status, 422);
  const good = await ctx.post<JobAccepted>('/v1/jobs', { prompt: 'fixed' }, { 'idempotency-key': 'fixed-later' });
  assert.equal(good.status, 202);
  const long = await ctx.post<ErrorBody>('/v1/jobs', { prompt: 'p' }, { 'idempotency-key': 'k'.repeat(256) });
  assert.equal(long.status, 422);
  assert.equal(long.body.error.param, 'Idempotency-Key');
});
