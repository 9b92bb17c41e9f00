import {
  jobTimings,
  type FinishReason,
  type GenerateJobData,
  type GenerateJobResult,
  type JobState,
  type JobStatus,
  type Timings,
  type Usage,
} from '@sambay/protocol';

/** GET /v1/jobs/:id. Times are ms; `created_at` is ISO 8601. */
export interface JobView {
  id: string;
  status: JobStatus;
  /** While queued: jobs ahead of this one (0 = next to start); null otherwise. */
  queue_position: number | null;
  progress: { generated_tokens: number; max_tokens: number | null; tokens_per_second: number | null };
  text: string;
  finish_reason: FinishReason | null;
  /** Null until the worker has tokenized the prompt. */
  usage: Usage | null;
  timings: Timings;
  error: string | null;
  seed: number | null;
  batch_id: string | null;
  metadata: Record<string, string>;
  created_at: string | null;
}

/** What BullMQ knows of the job; null once BullMQ has removed it (cancelled while queued, or past its TTL). */
export interface QueuedJobInfo {
  state: string;
  data: GenerateJobData;
  returnValue: GenerateJobResult | null;
  failedReason: string | null;
}

const TERMINAL: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];
export const isFinished = (status: JobStatus) => TERMINAL.includes(status);

/**
 * The job's status from both sources. The state hash's terminal status wins (the worker writes it
 * last); otherwise BullMQ's state is current, since the hash's `running` may belong to an attempt
 * whose worker died and whose job is queued again.
 */
export function resolveStatus(state: JobState, bull: QueuedJobInfo | null): JobStatus | null {
  if (state.status && isFinished(state.status)) return state.status;
  switch (bull?.state) {
    case 'completed':
      return 'completed';
    case 'failed':
      return 'failed';
    case 'active':
      return 'running';
    case 'waiting':
    case 'prioritized':
    case 'delayed':
    case 'waiting-children':
      return 'queued';
    default:
      return state.status;
  }
}

/** Builds the poll response; `now` is passed in so a running job's timings are consistent within one response. */
export function buildJobView(
  id: string,
  status: JobStatus,
  state: JobState,
  text: string,
  bull: QueuedJobInfo | null,
  queuePosition: number | null,
  now: number,
): JobView {
  const result = bull?.returnValue ?? null;
  const submittedAt = state.submittedAt ?? bull?.data.submittedAt ?? null;
  const generated = state.generatedTokens > 0 ? state.generatedTokens : (result?.usage.completion_tokens ?? 0);
  const usage: Usage | null =
    state.promptTokens !== null
      ? {
          prompt_tokens: state.promptTokens,
          completion_tokens: generated,
          total_tokens: state.promptTokens + generated,
        }
      : (result?.usage ?? null);
  return {
    id,
    status,
    queue_position: status === 'queued' ? queuePosition : null,
    progress: {
      generated_tokens: generated,
      max_tokens: state.maxTokens ?? bull?.data.request.max_tokens ?? null,
      tokens_per_second: state.tokensPerSecond,
    },
    text: text || result?.text || '',
    finish_reason: state.finishReason ?? result?.finish_reason ?? null,
    usage,
    timings:
      result && !state.finishedAt
        ? result.timings
        : submittedAt === null
          ? { queue_ms: 0, time_to_first_token_ms: null, total_ms: 0 }
          : jobTimings({
              submittedAt,
              startedAt: state.startedAt,
              firstTokenAt: state.firstTokenAt,
              finishedAt: state.finishedAt ?? now,
            }),
    error: state.error ?? (status === 'failed' ? (bull?.failedReason ?? null) : null),
    seed: bull?.data.request.seed ?? null,
    batch_id: state.batchId ?? bull?.data.batchId ?? null,
    metadata: Object.keys(state.metadata).length > 0 ? state.metadata : (bull?.data.request.metadata ?? {}),
    created_at: submittedAt === null ? null : new Date(submittedAt).toISOString(),
  };
}
