// SIGTERM on the built API process (no worker) while it serves an SSE stream.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import { openSse, type SseEvent } from './helpers/sse-client.js';

// A grace period well beyond the SSE client's time limit (10 s): if shutdown waited for the stream
// instead of ending it, the client's read would fail first, so no clock is needed to tell.
const ctx = useApi({ SHUTDOWN_GRACE_MS: '30000' });

test('SIGTERM ends open SSE streams and exits 0 without waiting out the grace period', async () => {
  const id = await ctx.submit({ prompt: 'one' });
  const sse = await openSse(ctx.url(`/v1/jobs/${id}/events`));
  let exit: Promise<number | null>;
  let events: SseEvent[];
  try {
    events = await sse.readUntil(() => true);
    exit = ctx.api.stop();
    events.push(...(await sse.readToEnd()));
  } finally {
    sse.close();
  }
  assert.ok(sse.ended, 'the server ended the stream');
  assert.deepEqual(
    events.map((e) => e.event),
    ['status'],
  );
  assert.equal(await exit, 0);
});
