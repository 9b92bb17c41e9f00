// The built API process (no worker) serving a job's events over SSE: replay of a finished stream,
// resume after Last-Event-ID (header or query), live follow with heartbeats, and the Redis
// connection a stream holds. The test writes stream entries itself, as a worker would.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeStreamEvent } from '@sambay/protocol';
import { useApi } from './helpers/api-fixture.js';
import type { CancelAccepted, ErrorBody } from './helpers/api-types.js';
import { blockedXreads } from './helpers/redis-clients.js';
import { eventData, openSse, readSseToEnd, type SseEvent } from './helpers/sse-client.js';

const EVENT_ID = /^\d+-\d+$/;

describe('SSE replay and resume', () => {
  const ctx = useApi({ SSE_HEARTBEAT_MS: '100' });

  test('a finished job replays queued then done and closes; a resume (header or query) replays only what came later', async () => {
    const id = await ctx.cancelledJob({ prompt: 'to cancel' });
    const url = ctx.url(`/v1/jobs/${id}/events`);
    const { stream: sse, events } = await readSseToEnd(url);
    assert.equal(sse.status, 200);
    assert.match(sse.contentType ?? '', /^text\/event-stream/);
    assert.ok(sse.ended, 'the server closes the stream after the terminal event');
    assert.deepEqual(
      events.map((e) => e.event),
      ['status', 'done'],
    );
    assert.deepEqual(eventData(events[0]!), { type: 'status', status: 'queued' });
    const done = eventData(events[1]!) as { status: string; result: { finish_reason: string } };
    assert.equal(done.status, 'cancelled');
    assert.equal(done.result.finish_reason, 'cancelled');
    for (const e of events) assert.match(e.id ?? '', EVENT_ID);

    // Resuming after the first event (header or query) replays only what came later.
    const byHeader = await readSseToEnd(url, { headers: { 'last-event-id': events[0]!.id! } });
    assert.deepEqual(byHeader.events, [events[1]]);
    assert.ok(byHeader.stream.ended);
    const byQuery = await readSseToEnd(`${url}?last_event_id=${events[0]!.id!}`);
    assert.deepEqual(byQuery.events, [events[1]]);
  });

  test('a Last-Event-ID that is no stream id is 422', async () => {
    const id = await ctx.cancelledJob({ prompt: 'to cancel' });
    const bad = await ctx.get<ErrorBody>(`/v1/jobs/${id}/events`, { 'last-event-id': 'yesterday' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.param, 'last_event_id');
  });

  test('SSE follows new events live, with heartbeats, resumes with no gap or repeat, and ends at done', async () => {
    const { keys, redis } = ctx;
    const id = await ctx.submit({ prompt: 'live' });
    const url = ctx.url(`/v1/jobs/${id}/events`);
    const stream = keys.jobStream(id);
    const chunk = (index: number, text: string) =>
      encodeStreamEvent({ type: 'tokens', index, token_ids: [index], text });

    // First subscriber: sees queued, then a chunk written while it listens (as a worker would), then leaves.
    const first = await openSse(url);
    let firstEvents: SseEvent[];
    try {
      const replayed = await first.readUntil(() => true);
      await redis.xadd(stream, '*', ...chunk(0, 'Hel'));
      const live = await first.collectUntil((events, comments) => events.length >= 1 && comments.includes('ping'));
      firstEvents = [...replayed, ...live];
      assert.ok(first.comments.includes('ping'), 'heartbeat comments every SSE_HEARTBEAT_MS');
      assert.equal(first.ended, false);
    } finally {
      first.close();
    }
    assert.deepEqual(
      firstEvents.map((e) => e.event),
      ['status', 'tokens'],
    );

    // While nobody listens, more tokens arrive; the job then ends.
    await redis.xadd(stream, '*', ...chunk(1, 'lo'));
    await redis.xadd(stream, '*', ...chunk(2, '!'));
    const cancel = await ctx.post<CancelAccepted>(`/v1/jobs/${id}/cancel`, {});
    assert.equal(cancel.body.status, 'cancelled');

    const resumed = await readSseToEnd(url, { headers: { 'last-event-id': firstEvents[1]!.id! } });
    assert.ok(resumed.stream.ended);
    assert.deepEqual(
      resumed.events.map((e) => e.event),
      ['tokens', 'tokens', 'done'],
    );
    assert.deepEqual(
      resumed.events.slice(0, 2).map((e) => (eventData(e) as { index: number }).index),
      [1, 2],
    );
    const all = await readSseToEnd(url);
    assert.deepEqual(all.events, [...firstEvents, ...resumed.events], 'first + resumed = the whole stream');
  });
});

// Its own API process, so no stream of another test is still being released while this one counts.
describe('SSE connections', () => {
  const ctx = useApi();

  test('an SSE client that disconnects releases its Redis connection', async () => {
    const id = await ctx.submit({ prompt: 'leave' });
    const clients = () => blockedXreads(ctx.redis, ctx.api.child.pid);
    /** Polls the count until `done` holds (or a generous limit passes) and returns the last count. */
    const settle = async (done: (n: number) => boolean) => {
      const deadline = Date.now() + 5000;
      let n = await clients();
      while (!done(n) && Date.now() < deadline) {
        await sleep(25);
        n = await clients();
      }
      return n;
    };
    const before = await clients();
    const stream = await openSse(ctx.url(`/v1/jobs/${id}/events`));
    let during: number;
    try {
      during = await settle((n) => n > before);
      await stream.readUntil(() => true);
    } finally {
      stream.close();
    }
    assert.equal(during, before + 1, 'the open stream holds one blocked XREAD connection');
    const now = await settle((n) => n <= before);
    assert.ok(now <= before, `${now} connections blocked in XREAD, ${before} before`);
  });
});
