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
   * Tokens an earlier attempt already emitted. They are fed back (by decode steps, or by prefill when
   * that would be slow: `SchedulerOptions.maxReplayMs`) and not emitted again; sampling draws are a
   * pure function of (seed, step), so the continuation is identical.
   */
  resumeTokens?: number[];
  /**
   * A checkpoint of an earlier attempt (a `checkpoint` event's `state` and `tokens`): the sequence's
   * exported state after the prompt plus `resumeTokens[0..tokens)`, so `resumeTokens[tokens]` is the
   * next token to feed (0 <= tokens < resumeTokens.length). The scheduler imports it and feeds only
   * `resumeTokens[tokens..]` instead of prefilling the whole context; every resumed token is still
   * replayed through the detokenizer and stop criteria. A state that does not fit (another model
   * config, bad bytes, wrong length) is ignored: the state is rebuilt from the prompt, with the same
   * output.
   */
  resumeState?: ResumeState;
}

export interface ResumeState {
  state: Uint8Array;
  tokens: number;
}

/** Where a resumed sequence's state was rebuilt from: an imported checkpoint, or its prompt, prefilled. */
export type ResumedFrom = 'checkpoint' | 'prefill';

/** Names follow TGI: `length`, `eos_token`, `stop_sequence`; plus `cancelled`. */
export type FinishReason = 'length' | 'eos_token' | 'stop_sequence' | 'cancelled';

export type GenerationEvent =
  | {
      type: 'started';
      id: string;
      promptTokens: number;
      /** Only on a request with resumeTokens. */
      resumedFrom?: ResumedFrom;
      /** Why a given resumeState was not used (it fell back to prefill). */
      checkpointError?: string;
      /**
       * Resumed tokens to be fed by decode steps before sampling takes over (`SchedulerOptions.maxReplayMs`;
       * prefill takes the rest if that is slow): absent when prefill or the checkpoint covered them all.
       */
      replayTokens?: number;
    }
  /** New tokens of one sequence; `generated` counts all tokens generated so far, resumed ones included. */
  | { type: 'tokens'; id: string; tokenIds: number[]; text: string; generated: number }
  | { type: 'finished'; id: string; reason: FinishReason; promptTokens: number; generatedTokens: number }
  | { type: 'failed'; id: string; message: string }
  /**
   * Answers `Scheduler.checkpoint(id)`, after the `tokens` event of the same step: the sequence's
   * exported state after the prompt and its first `tokens` generated tokens. The last token sampled
   * (number `tokens + 1`) is not in it yet, so a resume always has at least one token to feed.
   */
  | { type: 'checkpoint'; id: string; state: Uint8Array; tokens: number };
