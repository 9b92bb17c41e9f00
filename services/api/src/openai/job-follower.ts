import { isTerminal, type QueueKeys, type StreamEvent } from '@sambay/protocol';
import type { JobStore } from '../queue/job-store.js';
import { isFinished } from '../queue/job-view.js';
import type { StreamFanout } from '../sse/stream-fanout.js';
import type { FollowedEntry, StreamFollower } from '../sse/stream-follower.js';

/** One event of one choice's job stream; `id` null for an event made here (not in the stream, so no reconnect point). */
export interface FollowedEvent {
  choice: number;
  id: string | null;
  event: StreamEvent;
}

export interface FollowJobsOptions {
  /** Made by {@link jobsFollower} for the same jobs; the caller closes it (a disconnect ends a pending wait). */
  follower: StreamFollower;
  store: JobStore;
  jobIds: string[];
  /** Longest wait for an event; after an idle wait the jobs' statuses are checked. */
  idleCheckMs: number;
  isClosed: () => boolean;
}

/** A follower of the jobs' streams through the shared reader, each from its entry id ('0-0': from the start). */
export const jobsFollower = (fanout: StreamFanout, keys: QueueKeys, jobIds: string[], afterIds: string[]) =>
  fanout.follow(jobIds.map((id, i) => ({ key: keys.jobStream(id), after: afterIds[i]! })));

/** Null while the job can still write events; else why its stream ended without a terminal event. */
async function jobEnded(store: JobStore, id: string): Promise<string | null> {
  const view = await store.getJob(id, { withText: false });
  if (!view) return 'the job has expired';
  if (!isFinished(view.status)) return null;
  return view.error ?? `the job is ${view.status} but its stream has no final event`;
}

/**
 * Follows the streams of several jobs at once (one follower over all of them) until each has given
 * its terminal event. A job that ended without a terminal event (it expired, or died unrecorded) gets
 * an `error` event made here.
 */
export async function* followJobs(o: FollowJobsOptions): AsyncGenerator<FollowedEvent> {
  const choiceOf = new Map(o.follower.keys.map((key, choice) => [key, choice]));
  const open = new Set(o.jobIds.map((_, i) => i));
  const take = function* (entries: FollowedEntry[]) {
    for (const { key, id, event } of entries) {
      const choice = choiceOf.get(key)!;
      if (!open.has(choice)) continue;
      if (isTerminal(event)) open.delete(choice);
      yield { choice, id, event };
    }
  };
  while (open.size > 0 && !o.isClosed()) {
    const entries = await o.follower.next(o.idleCheckMs);
    yield* take(entries);
    if (entries.length > 0 || o.isClosed()) continue;
    for (const choice of [...open]) {
      const ended = await jobEnded(o.store, o.jobIds[choice]!);
      if (ended === null) continue;
      // The final event may have landed between the idle wait and the status check.
      yield* take(await o.follower.readNow());
      if (!open.has(choice)) continue;
      open.delete(choice);
      yield { choice, id: null, event: { type: 'error', message: ended } };
    }
  }
}
