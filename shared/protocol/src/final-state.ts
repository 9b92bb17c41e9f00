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

/**
 * Queues the writes that end a job on `pipe` (a pipeline or MULTI the caller runs): the last stream
 * event, the final state fields, and the finished-job TTL on the stream, state and text. The API
 * (a job cancelled while queued) and the worker (every other ending) both end jobs through here.
 */
export function writeFinalState(
  pipe: ChainableCommander,
  keys: QueueKeys,
  jobId: string,
  record: FinalRecord,
  ttlSeconds: number,
): void {
  pipe.xadd(keys.jobStream(jobId), '*', ...encodeStreamEvent(record.event));
  pipe.hset(keys.jobState(jobId), record.state);
  for (const key of [keys.jobStream(jobId), keys.jobState(jobId), keys.jobText(jobId)]) pipe.expire(key, ttlSeconds);
}
