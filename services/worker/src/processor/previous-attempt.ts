import {
  type RedisClient,
  decodeStreamEvent,
  type GenerateJobResult,
  type JobStateFields,
  type QueueKeys,
} from '@sambay/protocol';

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
  /** The last state checkpoint an earlier attempt stored, if any (not read when checkpoints are off). */
  checkpoint: StoredCheckpoint | null;
}

/** A job's `QueueKeys.jobCheckpoint` hash: the engine state after the prompt and `tokens` generated tokens. */
export interface StoredCheckpoint {
  tokens: number;
  /** A copy in a buffer of its own, so it can be transferred to the engine thread. */
  state: Uint8Array;
}

/** What a first attempt starts from: nothing. */
export const noPreviousAttempt = (): PreviousAttempt => ({
  tokenIds: [],
  text: '',
  announcedRunning: false,
  done: null,
  state: {},
  checkpoint: null,
});

/**
 * Reads a job's stream from the start. A worker that died mid-job (BullMQ re-runs stalled jobs) or
 * handed its jobs back on shutdown left the tokens it had written; the next attempt continues after them.
 */
export async function readPreviousAttempt(
  redis: RedisClient,
  keys: QueueKeys,
  jobId: string,
  options: { checkpoint?: boolean } = {},
): Promise<PreviousAttempt> {
  const [entries, state, stored] = await Promise.all([
    redis.xrange(keys.jobStream(jobId), '-', '+'),
    redis.hgetall(keys.jobState(jobId)),
    options.checkpoint ? redis.hgetallBuffer(keys.jobCheckpoint(jobId)) : null,
  ]);
  const attempt = { ...noPreviousAttempt(), state, checkpoint: stored ? parseCheckpoint(stored) : null };
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

function parseCheckpoint(hash: Record<string, Buffer>): StoredCheckpoint | null {
  const tokens = Number(hash.tokens?.toString());
  const state = hash.state;
  if (!Number.isInteger(tokens) || tokens < 0 || !state || state.length === 0) return null;
  return { tokens, state: new Uint8Array(state) };
}
