export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

/**
 * Why a generation ended, on the wire. Names follow TGI: `length`, `eos_token`, `stop_sequence`;
 * plus `cancelled`. The engine has the same union; the worker passes its value through unchanged.
 */
export type FinishReason = 'length' | 'eos_token' | 'stop_sequence' | 'cancelled';
export const FINISH_REASONS: readonly FinishReason[] = ['length', 'eos_token', 'stop_sequence', 'cancelled'];

/** A validated generation request as stored in the BullMQ job. Field names follow the HTTP API. */
export interface JobRequest {
  prompt: string;
  max_tokens: number;
  temperature: number;
  top_p: number;
  top_k: number;
  seed: number;
  stop: string[];
  /**
   * Generate to max_tokens whatever EOS the model samples (vLLM's name). Optional: jobs queued
   * before the field existed lack it, and absent means false.
   */
  ignore_eos?: boolean;
  priority: number;
  metadata: Record<string, string>;
}

export interface GenerateJobData {
  request: JobRequest;
  batchId: string | null;
  /** ms since epoch, set by the API. */
  submittedAt: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface Timings {
  queue_ms: number;
  time_to_first_token_ms: number | null;
  total_ms: number;
}

export interface GenerateJobResult {
  text: string;
  finish_reason: FinishReason;
  usage: Usage;
  timings: Timings;
}
