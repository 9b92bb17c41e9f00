import type { Redis } from 'ioredis';
import { decodeStreamEvent, type GenerateJobResult, type JobStateFields, type QueueKeys } from '@sambay/protocol';

/** What earlier attempts of a job left in its stream and state hash (all empty for a first attempt). */
export interface PreviousAttempt {
  /** Token ids already streamed, in order: the resumed attempt feeds them back instead of emitting them. */
  tokenIds: number[];
  /** Text already streamed. */
  text: string;
  /** Whether the stream already says `running` (it is not repeated). */
  announcedRunning: boolean;
  /** The result, when an earlier attempt wrote `done` but died before BullMQ recorded it. */
  done: GenerateJobResult | null;
  state: JobStateFields;
}

/**
 * Reads a job's stream from the start. A worker that died mid-job (BullMQ re-runs stalled jobs) or
 * handed its jobs back on shutdown left the tokens it had written; the next attempt continues after them.
 */
export async function readPreviousAttempt(redis: Redis, keys: QueueKeys, jobId: string): Promise<PreviousAttempt> {
  const [entries, state] = await Promise.all([
    redis.xrange(keys.jobStream(jobId), '-', '+'),
    redis.hgetall(keys.jobState(jobId)),
  ]);
  const attempt: PreviousAttempt = { tokenIds: [], text: '', announcedRunning: false, done: null, state };
  for (const [, fields] of entries) {
    const event = decodeStreamEvent(fields);
    if (event.type === 'tokens') {
      attempt.tokenIds.push(...event.token_ids);
      attempt.text += event.text;
    } else if (event.type === 'status' && event.status === 'running') {
      attempt.announcedRunning = true;
    } else if (event.type === 'done') {
      attempt.done = event.result;
    }
  }
  return attempt;
}
