// The built API process (no worker): SSE requests whose client goes away before the job lookup
// finishes must not leave a Redis connection behind (each open stream holds one, blocked in XREAD).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { useApi } from './helpers/api-fixture.js';
import { getAndAbort } from './helpers/raw-http.js';
import { blockedXreads } from './helpers/redis-clients.js';
import { waitFor } from './helpers/wait.js';

const ctx = useApi();

/** SSE requests the API logged (its request log line comes when the response closes). */
const loggedEventRequests = (output: string, id: string) =>
  output.split('\n').filter((line) => line.includes('"msg":"request"') && line.includes(`/v1/jobs/${id}/events`))
    .length;

test('50 SSE requests reset before the API answers hold no Redis connection afterwards', async () => {
  const id = await ctx.submit({ prompt: 'stays queued: no worker' });
  const pid = ctx.api.child.pid!;
  const before = await blockedXreads(ctx.redis, pid);
  await Promise.all(Array.from({ length: 50 }, () => getAndAbort(ctx.api.url, `/v1/jobs/${id}/events`)));
  // The requests that reached the router were looked up; some may still be past their last await.
  const seen = await waitFor('the API to log the aborted requests', () => {
    const n = loggedEventRequests(ctx.api.output(), id);
    return n >= 25 && n;
  });
  await sleep(1000);
  assert.equal(
    await blockedXreads(ctx.redis, pid),
    before,
    `no blocked XREAD left by ${seen} aborted SSE requests (the job is still queued, so a leaked one would wait on)`,
  );
});
