// The built API process (no worker): SSE requests whose client goes away before the job lookup
// finishes must leave nothing behind: no stream for the shared reader to follow, no open SSE stream,
// and no Redis connection beyond that one reader's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { useApi } from './helpers/api-fixture.js';
import { scrape } from './helpers/prometheus-text.js';
import { getAndAbort } from './helpers/raw-http.js';
import { blockedXreads } from './helpers/redis-clients.js';
import { apiConnections } from './helpers/redis-connections.js';
import { waitFor } from './helpers/wait.js';

const ctx = useApi();

/** SSE requests the API logged (its request log line comes when the response closes). */
const loggedEventRequests = (output: string, id: string) =>
  output.split('\n').filter((line) => line.includes('"msg":"request"') && line.includes(`/v1/jobs/${id}/events`))
    .length;

test('50 SSE requests reset before the API answers leave no follower, stream or connection behind', async () => {
  const id = await ctx.submit({ prompt: 'stays queued: no worker' });
  const pid = ctx.api.child.pid!;
  const connectionsBefore = await apiConnections(ctx.redis, ctx.prefix);
  await Promise.all(Array.from({ length: 50 }, () => getAndAbort(ctx.api.url, `/v1/jobs/${id}/events`)));
  // The requests that reached the router were looked up; some may still be past their last await.
  const seen = await waitFor('the API to log the aborted requests', () => {
    const n = loggedEventRequests(ctx.api.output(), id);
    return n >= 25 && n;
  });
  await sleep(1000);
  const metrics = await scrape(ctx.url('/metrics'));
  const what = `after ${seen} aborted SSE requests (the job is still queued, so a leaked follower would wait on)`;
  assert.equal(metrics.value('sambay:sse_followed_streams'), 0, `no stream followed ${what}`);
  assert.equal(metrics.value('sambay:sse_clients_connected'), 0, `no SSE stream open ${what}`);
  // At most the shared reader's own connection, blocked on what it followed last.
  assert.ok((await blockedXreads(ctx.redis, pid)) <= 1, `one blocked XREAD at most ${what}`);
  assert.ok(
    (await apiConnections(ctx.redis, ctx.prefix)) <= connectionsBefore + 1,
    `no connection per request ${what}`,
  );
});
