// The built API process (no worker): cancelling a queued job finishes it at once, and tells the
// workers. (Cancelling a running job: e2e-generation.test.ts, service-worker-generation.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import type { CancelAccepted, ErrorBody, JobView } from './helpers/api-types.js';
import { connectRedis } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';

const ctx = useApi();

test('cancelling a queued job: the cancel channel and marker, the poll view, the stream TTL, 409 on repeat', async () => {
  const { keys, redis } = ctx;
  const id = await ctx.submit({ prompt: 'to cancel' });
  const subscriber = connectRedis();
  const published: string[] = [];
  subscriber.on('message', (_channel: string, message: string) => published.push(message));
  await subscriber.subscribe(keys.cancelChannel);
  const cancel = await ctx.post<CancelAccepted>(`/v1/jobs/${id}/cancel`, {});
  try {
    await waitFor('the cancel message', () => published.length > 0);
  } finally {
    subscriber.disconnect();
  }
  assert.deepEqual(published, [id], 'every worker hears the bare job id on the cancel channel');
  assert.equal(cancel.status, 202);
  assert.deepEqual(cancel.body, { id, status: 'cancelled' });
  assert.equal(await redis.exists(keys.jobCancelled(id)), 1, 'the marker a later worker would check');

  const job = (await ctx.get<JobView>(`/v1/jobs/${id}`)).body;
  assert.equal(job.status, 'cancelled');
  assert.equal(job.queue_position, null);
  assert.equal(job.finish_reason, 'cancelled');
  assert.deepEqual(job.usage, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
  assert.ok((await redis.ttl(keys.jobStream(id))) > 0, 'a finished stream expires');

  const again = await ctx.post<ErrorBody>(`/v1/jobs/${id}/cancel`, {});
  assert.equal(again.status, 409);
  assert.equal(again.body.error.type, 'conflict');
});
