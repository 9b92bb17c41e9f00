import type { ChainableCommander } from 'ioredis';
import type { FinishReason, GenerateJobResult } from './job-data.js';
import { JobStateField as F, type JobStateFields } from './job-state.js';
import { jobTimings, type JobTimes } from './job-timings.js';
import type { QueueKeys } from './queue-keys.js';
import { encodeStreamEvent, type StreamEvent } from './stream-event.js';

/** How a job ended: everything its last stream event, result and final state are made from. */
export type JobEnding =
  | {
      status: 'completed' | 'cancelled';
      finishReason: FinishReason;
      text: string;
      promptTokens: number;
      generatedTokens: number;
      /** Decode rate of the last attempt; null for a job that never ran. */
      tokensPerSecond: number | null;
      times: JobTimes;
    }
  | { status: 'failed'; message: string; finishedAt: number };

/** A job's last stream event and final state fields; `result` is what BullMQ records (null for a failure). */
export interface FinalRecord {
  event: StreamEvent;
  state: JobStateFields;
  result: GenerateJobResult | null;
}

export function finalRecord(ending: JobEnding): FinalRecord {
  if (ending.status === 'failed') {
    return {
      event: { type: 'error', message: ending.message },
      state: { [F.status]: 'failed', [F.error]: ending.message, [F.finishedAt]: String(ending.finishedAt) },
      result: null,
    };
  }
  const result: GenerateJobResult = {
    text: ending.text,
    finish_reason: ending.finishReason,
    usage: {
      prompt_tokens: ending.promptTokens,
      completion_tokens: ending.generatedTokens,
      total_tokens: ending.promptTokens + ending.generatedTokens,
    },
    timings: jobTimings(ending.times),
  };
  const state: JobStateFields = {
    [F.status]: ending.status,
    [F.finishReason]: ending.finishReason,
    [F.finishedAt]: String(ending.times.finishedAt),
    [F.promptTokens]: String(ending.promptTokens),
    [F.generatedTokens]: String(ending.generatedTokens),
    ...(ending.tokensPerSecond === null ? {} : { [F.tokensPerSecond]: String(ending.tokensPerSecond) }),
  };
  return { event: { type: 'done', status: ending.status, result }, state, result };
}

/** Statuses after which a job's stream has its last event; the script below writes nothing past one. */
export const FINAL_STATUSES = ['completed', 'failed', 'cancelled'] as const;

/**
 * Ends a job at most once, atomically. KEYS: state, stream, text, checkpoint, lock. ARGV: TTL,
 * lock token ('' when the writer holds no lock: the API, or a job BullMQ already failed), the
 * stream entry's field and value, then the state fields and values. Returns 1 when it wrote, 0
 * when the state hash already says the job ended (a second writer is a no-op), and an error when
 * the lock is not the writer's (its attempt was given up and the job runs elsewhere).
 */
const FINISH_JOB_SCRIPT = `
local status = redis.call('HGET', KEYS[1], '${F.status}')
${FINAL_STATUSES.map((s) => `if status == '${s}' then return 0 end`).join('\n')}
if ARGV[2] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[2] then
  return redis.error_reply('LOCKLOST the job is no longer held by this attempt')
end
redis.call('XADD', KEYS[2], '*', ARGV[3], ARGV[4])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
redis.call('DEL', KEYS[4])
return 1
`;

/**
 * Queues the script that ends a job on `pipe` (a pipeline or MULTI the caller runs): the last stream
 * event, the final state fields, the finished-job TTL on the stream, state and text, and the
 * checkpoint deleted. It writes only if the job has not ended yet, so every path that may end a job
 * (the worker's attempt, BullMQ failing it, the API cancelling it while queued) can call it and the
 * stream still gets exactly one terminal event. `lockToken` fences a running attempt: the write is
 * refused if BullMQ's lock on the job is no longer that token.
 */
export function writeFinalState(
  pipe: ChainableCommander,
  keys: QueueKeys,
  jobId: string,
  record: FinalRecord,
  ttlSeconds: number,
  lockToken = '',
): void {
  const jobKeys = [
    keys.jobState(jobId),
    keys.jobStream(jobId),
    keys.jobText(jobId),
    keys.jobCheckpoint(jobId),
    keys.jobLock(jobId),
  ];
  const state = Object.entries(record.state).flat();
  pipe.eval(
    FINISH_JOB_SCRIPT,
    jobKeys.length,
    ...jobKeys,
    ttlSeconds,
    lockToken,
    ...encodeStreamEvent(record.event),
    ...state,
  );
}
