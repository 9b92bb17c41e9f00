import { Router, type Request } from 'express';
import type { Logger } from 'pino';
import { isTerminal, type QueueKeys } from '@sambay/protocol';
import { callerOf } from '../auth/caller.js';
import { assertJobVisible } from '../auth/job-access.js';
import { ApiError } from '../errors/api-error.js';
import type { JobStore } from '../queue/job-store.js';
import { isFinished } from '../queue/job-view.js';
import { compareStreamIds, formatStreamId, parseStreamId, type StreamId } from '../queue/stream-id.js';
import type { StreamEntry } from '../queue/stream-reader.js';
import { watchClient } from '../sse/client-watch.js';
import type { OpenStreams } from '../sse/open-streams.js';
import { SseWriter } from '../sse/sse-writer.js';
import type { StreamFanout } from '../sse/stream-fanout.js';
import type { StreamFollower } from '../sse/stream-follower.js';

export interface JobEventsOptions {
  store: JobStore;
  keys: QueueKeys;
  streams: OpenStreams;
  /** The process's shared reader of job streams. */
  fanout: StreamFanout;
  /** @defaultValue SSE_HEARTBEAT_MS (15000) */
  heartbeatMs: number;
  /** Longest wait for an event; after an idle wait the job's status is checked, so a job that died without a last event still ends its streams. @defaultValue 5000 */
  idleCheckMs?: number;
}

/** Reconnect point: the Last-Event-ID header (what EventSource sends on reconnect), else `?last_event_id=`, else the start. */
function resumeFrom(req: Request): StreamId {
  const fromHeader = req.get('last-event-id');
  const fromQuery = typeof req.query.last_event_id === 'string' ? req.query.last_event_id : undefined;
  const text = fromHeader ?? fromQuery;
  if (text === undefined || text === '') return { ms: 0n, seq: 0n };
  const id = parseStreamId(text);
  if (id === null) {
    throw ApiError.invalidField(
      'last_event_id',
      '`last_event_id` (or the Last-Event-ID header) must be an event id such as `1718000000000-0` (two unsigned 64-bit integers)',
    );
  }
  return id;
}

/**
 * 422 for a reconnect point after the stream's last event. Ids only come from this stream and it
 * only grows, so such an id was never sent (on a finished job it could only wait for nothing;
 * on a running one it would skip events): the client is told at once, before any stream opens.
 */
function assertNotBeyond(after: StreamId, last: StreamEntry | null): void {
  const lastId = last === null ? null : parseStreamId(last.id);
  if (lastId === null || compareStreamIds(after, lastId) <= 0) return;
  throw ApiError.invalidField(
    'last_event_id',
    `\`last_event_id\` ${formatStreamId(after)} is after the job's last event (${last!.id})`,
  );
}

/**
 * GET /v1/jobs/:id/events: replays the job's Redis Stream after the reconnect point, then follows it
 * until its terminal event. The stream holds everything from `queued` on, so a queued, running or
 * finished job is served the same way and a reconnecting client gets no gap and no repeat.
 */
export function jobEventsRouter(options: JobEventsOptions): Router {
  const router = Router();
  const idleCheckMs = options.idleCheckMs ?? 5000;

  router.get('/v1/jobs/:id/events', async (req, res) => {
    const id = req.params.id;
    const after = resumeFrom(req);
    // From here on, a client that goes away during a lookup gets no stream and costs no follower.
    const client = watchClient(req, res);
    await assertJobVisible(options.store, callerOf(res), id);
    // Both reads in one round trip: a client opening its stream is waiting for the first token.
    const [exists, last] = await Promise.all([options.store.jobExists(id), options.store.lastStreamEntry(id)]);
    if (!exists) throw ApiError.notFound('job', id);
    assertNotBeyond(after, last);
    if (client.gone) return;
    const log = res.locals.log as Logger;
    const sse = new SseWriter(res);
    sse.open();
    // A reconnect after the terminal event (EventSource reconnects after any end): nothing more will come.
    if (last && isTerminal(last.event) && last.id === formatStreamId(after)) {
      sse.end();
      return;
    }
    // Only now, with the client still there and nothing awaited since the check, does it follow the stream.
    const follower = options.fanout.follow([{ key: options.keys.jobStream(id), after: formatStreamId(after) }]);
    let closed = false;
    const isClosed = () => closed;
    const close = () => {
      closed = true;
      sse.end();
      // Ends a pending wait for entries; the loop below sees `closed` and stops.
      follower.close();
    };
    const unregister = options.streams.add(close);
    res.on('close', close);
    sse.startHeartbeat(options.heartbeatMs);
    try {
      await follow({ follower, sse, idleCheckMs, isClosed, jobEnded: () => jobEnded(options.store, id) });
    } catch (error) {
      if (!isClosed()) {
        log.error({ err: error }, 'event stream failed'); // the request's logger carries jobId
        await sse
          .event('error', { type: 'error', message: 'the event stream failed; reconnect with Last-Event-ID' })
          .catch(() => undefined);
      }
    } finally {
      unregister();
      close();
    }
  });
  return router;
}

/** Null while the job can still write events; else the message for a stream that ended without a terminal event. */
async function jobEnded(store: JobStore, id: string): Promise<string | null> {
  const view = await store.getJob(id, { withText: false });
  if (!view) return 'the job has expired';
  if (!isFinished(view.status)) return null;
  return view.error ?? `the job is ${view.status} but its stream has no final event`;
}

interface FollowOptions {
  follower: StreamFollower;
  sse: SseWriter;
  idleCheckMs: number;
  isClosed: () => boolean;
  jobEnded: () => Promise<string | null>;
}

async function follow(o: FollowOptions): Promise<void> {
  const send = async (entries: StreamEntry[]): Promise<boolean> => {
    for (const { id, event } of entries) {
      await o.sse.event(event.type, event, id);
      if (isTerminal(event)) return true;
    }
    return false;
  };
  while (!o.isClosed()) {
    const entries = await o.follower.next(o.idleCheckMs);
    if (await send(entries)) return;
    if (entries.length > 0 || o.isClosed()) continue;
    const ended = await o.jobEnded();
    if (ended === null) continue;
    // The final event may have landed between the idle wait and the status check.
    if (await send(await o.follower.readNow())) return;
    // No id: this event is not in the stream, so it cannot be a reconnect point.
    await o.sse.event('error', { type: 'error', message: ended });
    return;
  }
}
