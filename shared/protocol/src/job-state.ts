import { FINISH_REASONS, type FinishReason, type JobStatus } from './job-data.js';

/**
 * Field names of a job's state hash (QueueKeys.jobState). The worker keeps the live fields
 * current while it generates; the API writes the submission fields when it enqueues, and a
 * cancelled-while-queued job's final fields. Polling (GET /v1/jobs/:id) reads this hash instead
 * of replaying the stream; the text so far is in QueueKeys.jobText. Every value is a string (a Redis hash); times are ms since epoch.
 */
export const JobStateField = {
  status: 'status',
  generatedTokens: 'generated_tokens',
  promptTokens: 'prompt_tokens',
  /** Kept from the first attempt when a job is resumed. */
  startedAt: 'started_at',
  firstTokenAt: 'first_token_at',
  finishedAt: 'finished_at',
  finishReason: 'finish_reason',
  tokensPerSecond: 'tokens_per_second',
  /** Message of a failed job. */
  error: 'error',
  /** Tokens in the job's stream; written with each token chunk so a chunk sent twice is applied once. */
  streamTokens: 'stream_tokens',
  // Written once by the API at submission, so a job stays describable after BullMQ drops it.
  submittedAt: 'submitted_at',
  maxTokens: 'max_tokens',
  batchId: 'batch_id',
  /** JSON object of string values. */
  metadata: 'metadata',
  /** Name of the API key that submitted the job; absent in open mode. Other keys get 404 for the job. */
  owner: 'owner',
} as const;

export type JobStateFieldName = (typeof JobStateField)[keyof typeof JobStateField];
export type JobStateFields = Partial<Record<JobStateFieldName, string>>;

/** The state hash, parsed. Absent fields are null. */
export interface JobState {
  status: JobStatus | null;
  generatedTokens: number;
  promptTokens: number | null;
  startedAt: number | null;
  firstTokenAt: number | null;
  finishedAt: number | null;
  finishReason: FinishReason | null;
  tokensPerSecond: number | null;
  error: string | null;
  submittedAt: number | null;
  maxTokens: number | null;
  batchId: string | null;
  metadata: Record<string, string>;
}

const STATUSES: readonly string[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];

const num = (value: string | undefined): number | null => {
  if (value === undefined || value === '') return null;
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : null;
};

function parseMetadata(value: string | undefined): Record<string, string> {
  if (!value) return {};
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** Parses HGETALL output; unknown or malformed values read as absent rather than failing a poll. */
export function parseJobState(hash: Record<string, string>): JobState {
  const f = JobStateField;
  const status = hash[f.status];
  const reason = hash[f.finishReason];
  return {
    status: status && STATUSES.includes(status) ? (status as JobStatus) : null,
    generatedTokens: num(hash[f.generatedTokens]) ?? 0,
    promptTokens: num(hash[f.promptTokens]),
    startedAt: num(hash[f.startedAt]),
    firstTokenAt: num(hash[f.firstTokenAt]),
    finishedAt: num(hash[f.finishedAt]),
    finishReason: reason && (FINISH_REASONS as readonly string[]).includes(reason) ? (reason as FinishReason) : null,
    tokensPerSecond: num(hash[f.tokensPerSecond]),
    error: hash[f.error] ?? null,
    submittedAt: num(hash[f.submittedAt]),
    maxTokens: num(hash[f.maxTokens]),
    batchId: hash[f.batchId] || null,
    metadata: parseMetadata(hash[f.metadata]),
  };
}
