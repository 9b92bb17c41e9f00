// The built API process (no worker) serving a job's events over SSE: replay of a finished stream,
// resume after Last-Event-ID (header or query), live follow with heartbeats, and the one shared
// Redis reader every stream of the process goes through. The test writes stream entries itself, as a worker would.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeStreamEvent } from '@sambay/protocol';
import { useApi } from './helpers/api-fixture.js';
import type { CancelAccepted, ErrorBody } from './helpers/api-types.js';
import { scrape } from './helpers/prometheus-text.js';
import { blockedXreads } from './helpers/redis-clients.js';
import { eventData, openSse, readSseToEnd, type SseEvent } from './helpers/sse-client.js';
import { waitFor } from './helpers/wait.js';

const EVENT_ID = /^\d+-\d+$/;
/** Streams the API's one shared reader follows (services/api/src/sse/stream-fanout.ts). */
const FOLLOWED = 'sambay:sse_followed_streams';

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
  const metric = async (name: string) => (await scrape(ctx.url('/metrics'))).value(name);
  const blocked = () => blockedXreads(ctx.redis, ctx.api.child.pid!);

  test('every SSE stream of the process is served by one blocked XREAD; streams that close are released', async () => {
    const ids = await Promise.all([1, 2, 3].map((n) => ctx.submit({ prompt: `shared ${n}` })));
    const streams = await Promise.all(ids.map((id) => openSse(ctx.url(`/v1/jobs/${id}/events`))));
    try {
      for (const stream of streams) await stream.readUntil(() => true);
      await waitFor('the shared reader to follow the three streams', async () => (await metric(FOLLOWED)) === 3);
      await waitFor('the shared read to block', async () => (await blocked()) >= 1);
      const n = await blocked();
      assert.ok(n <= 1, `three open streams hold one blocked XREAD connection between them, not ${n}`);
      assert.equal(await metric('sambay:sse_clients_connected'), 3);
    } finally {
      for (const stream of streams) stream.close();
    }
    await waitFor(
      'the closed streams to be released',
      async () => (await metric(FOLLOWED)) === 0 && (await metric('sambay:sse_clients_connected')) === 0,
    );
  });

  test('a stream that joins while the shared read waits gets its new events from that read', async () => {
    const [first, second] = await Promise.all([ctx.submit({ prompt: 'waiting' }), ctx.submit({ prompt: 'joining' })]);
    const waiting = await openSse(ctx.url(`/v1/jobs/${first}/events`));
    try {
      await waiting.readUntil(() => true);
      await waitFor('the shared read to block on the first stream', async () => (await blocked()) >= 1);
      // The read blocks for 30 s on the first stream alone; well within that, the joining stream's
      // new event must arrive: the join woke the read up (stream-fanout.ts).
      const joining = await openSse(ctx.url(`/v1/jobs/${second}/events`), { timeoutMs: 10_000 });
      try {
        assert.equal((await joining.readUntil(() => true))[0]?.event, 'status');
        await waitFor('the second stream to be followed', async () => (await metric(FOLLOWED)) === 2);
        await ctx.redis.xadd(
          ctx.keys.jobStream(second),
          '*',
          ...encodeStreamEvent({ type: 'tokens', index: 0, token_ids: [1], text: 'x' }),
        );
        const [tokens] = await joining.readUntil(() => true);
        assert.deepEqual(eventData(tokens!), { type: 'tokens', index: 0, token_ids: [1], text: 'x' });
      } finally {
        joining.close();
      }
    } finally {
      waiting.close();
    }
  });
});
