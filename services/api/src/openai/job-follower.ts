import type { Redis } from 'ioredis';
import { decodeStreamEvent, isTerminal, type QueueKeys, type StreamEvent } from '@sambay/protocol';
import type { JobStore } from '../queue/job-store.js';
import { isFinished } from '../queue/job-view.js';

/** One event of one choice's job stream; `id` null for an event made here (not in the stream, so no reconnect point). */
export interface FollowedEvent {
  choice: number;
  id: string | null;
  event: StreamEvent;
}

export interface FollowJobsOptions {
  /** A connection of its own: XREAD BLOCK holds it. Disconnecting it ends a pending read. */
  redis: Redis;
  store: JobStore;
  keys: QueueKeys;
  jobIds: string[];
  /** Per job, the stream entry to continue after ('0-0': from the start). */
  afterIds: string[];
  /** Longest XREAD BLOCK; after an idle wait the jobs' statuses are checked. */
  idleCheckMs: number;
  isClosed: () => boolean;
}

/** Entries per stream per XREAD, so a long finished job is replayed in bounded chunks. */
const READ_COUNT = 256;

async function readAfter(
  o: FollowJobsOptions,
  after: string[],
  choices: number[],
  blockMs: number | null,
): Promise<FollowedEvent[]> {
  const keys = choices.map((c) => o.keys.jobStream(o.jobIds[c]!));
  const ids = choices.map((c) => after[c]!);
  const reply =
    blockMs === null
      ? await o.redis.xread('COUNT', READ_COUNT, 'STREAMS', ...keys, ...ids)
      : await o.redis.xread('COUNT', READ_COUNT, 'BLOCK', blockMs, 'STREAMS', ...keys, ...ids);
  return (reply ?? []).flatMap(([key, entries]) => {
    const choice = choices[keys.indexOf(key)]!;
    return entries.map(([id, fields]) => ({ choice, id, event: decodeStreamEvent(fields) }));
  });
}

/** Null while the job can still write events; else why its stream ended without a terminal event. */
async function jobEnded(store: JobStore, id: string): Promise<string | null> {
  const view = await store.getJob(id, { withText: false });
  if (!view) return 'the job has expired';
  if (!isFinished(view.status)) return null;
  return view.error ?? `the job is ${view.status} but its stream has no final event`;
}

/**
 * Follows the streams of several jobs at once (one XREAD over all of them) until each has given its
 * terminal event, so the n choices of one request share one connection. A job that ended without a
 * terminal event (it expired, or died unrecorded) gets an `error` event made here.
 */
export async function* followJobs(o: FollowJobsOptions): AsyncGenerator<FollowedEvent> {
  const after = [...o.afterIds];
  const open = new Set(o.jobIds.map((_, i) => i));
  const take = function* (events: FollowedEvent[]) {
    for (const e of events) {
      if (!open.has(e.choice)) continue;
      after[e.choice] = e.id!;
      if (isTerminal(e.event)) open.delete(e.choice);
      yield e;
    }
  };
  while (open.size > 0 && !o.isClosed()) {
    const events = await readAfter(o, after, [...open], o.idleCheckMs);
    yield* take(events);
    if (events.length > 0) continue;
    for (const choice of [...open]) {
      const ended = await jobEnded(o.store, o.jobIds[choice]!);
      if (ended === null) continue;
      // The final event may have landed between the timed-out read and the status check.
      yield* take(await readAfter(o, after, [choice], null));
      if (!open.has(choice)) continue;
      open.delete(choice);
      yield { choice, id: null, event: { type: 'error', message: ended } };
    }
  }
}
