import type { SamplingParams } from '../sampling/sampling-params.js';

/** One generation, as the scheduler takes it. */
export interface GenerationRequest {
  id: string;
  prompt: string;
  maxTokens: number;
  sampling: SamplingParams;
  stop: string[];
  /** Generate to maxTokens: EOS tokens are kept as ordinary tokens instead of ending the generation. */
  ignoreEos?: boolean;
  /**
   * Tokens an earlier attempt already emitted. They are fed back through prefill and not emitted
   * again; sampling draws are a pure function of (seed, step), so the continuation is identical.
   */
  resumeTokens?: number[];
}

/** Names follow TGI: `length`, `eos_token`, `stop_sequence`; plus `cancelled`. */
export type FinishReason = 'length' | 'eos_token' | 'stop_sequence' | 'cancelled';

export type GenerationEvent =
  | { type: 'started'; id: string; promptTokens: number }
  /** New tokens of one sequence; `generated` counts all tokens generated so far, resumed ones included. */
  | { type: 'tokens'; id: string; tokenIds: number[]; text: string; generated: number }
  | { type: 'finished'; id: string; reason: FinishReason; promptTokens: number; generatedTokens: number }
  | { type: 'failed'; id: string; message: string };
