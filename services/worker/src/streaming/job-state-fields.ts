/**
 * Field names of a job's state hash (QueueKeys.jobState), which the API reads for polling.
 * Mirrors the names agreed with the API; replace with `@sambay/shared/queue/job-state` once it lands.
 */
export const JobStateField = {
  status: 'status',
  /** All text streamed so far. */
  text: 'text',
  generatedTokens: 'generated_tokens',
  promptTokens: 'prompt_tokens',
  /** ms since epoch; kept from the first attempt when a job is resumed. */
  startedAt: 'started_at',
  firstTokenAt: 'first_token_at',
  finishedAt: 'finished_at',
  finishReason: 'finish_reason',
  tokensPerSecond: 'tokens_per_second',
  error: 'error',
} as const;

export type JobStateFields = Partial<Record<(typeof JobStateField)[keyof typeof JobStateField], string>>;
