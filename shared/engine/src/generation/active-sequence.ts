import { StreamingDetokenizer, type Tokenizer } from '@sambay/tokenizer';
import { sampleToken } from '../sampling/sampler.js';
import { EmptyPromptError } from '../state/state-errors.js';
import type { FinishReason, GenerationRequest } from './generation-request.js';
import { StopCriteria, type StopStatus } from './stop-criteria.js';

/** What one sampled token produced: the text now safe to stream, and whether the sequence is done. */
export interface StepOutcome {
  tokenIds: number[];
  text: string;
  finished: FinishReason | null;
}

/**
 * One generation's progress through the token stream: sampling, detokenization and stop checks.
 * It holds no model state (that lives in the SequenceBatch), so it is cheap to rebuild on resume.
 */
export class ActiveSequence {
  readonly id: string;
  readonly promptTokens: number;
  /** Tokens an earlier attempt generated (`GenerationRequest.resumeTokens`). */
  readonly resumedTokens: number;
  /** Set when the resumed tokens already ended the generation (a crash between the last token and `done`). */
  readonly resumedFinish: FinishReason | null = null;
  private readonly detokenizer: StreamingDetokenizer;
  private readonly stop: StopCriteria;
  private readonly context: number[]; // prompt + resumed tokens
  private prefill: number[];
  /** Resumed tokens decode steps feed, one a step, before sampling takes over; `replayed` of them are fed. */
  private replay: number[] = [];
  private replayed = 0;
  private text = '';
  private last = -1;

  constructor(
    private readonly request: GenerationRequest,
    tokenizer: Tokenizer,
  ) {
    const promptIds = tokenizer.encode(request.prompt);
    if (promptIds.length === 0) throw new EmptyPromptError(0);
    this.id = request.id;
    this.promptTokens = promptIds.length;
    this.detokenizer = new StreamingDetokenizer(tokenizer);
    this.stop = new StopCriteria({
      maxTokens: request.maxTokens,
      eosTokenIds: request.ignoreEos ? [] : tokenizer.eosTokenIds,
      stopStrings: request.stop,
    });
    const resumed = request.resumeTokens ?? [];
    // Replaying rebuilds detokenizer and stop state exactly; the text was streamed by the earlier attempt.
    for (const token of resumed) this.resumedFinish ??= this.consume(token).reason;
    this.resumedTokens = resumed.length;
    this.context = [...promptIds, ...resumed];
    this.prefill = this.context;
  }

  /** The context tokens prefill must see: all of them, unless `replayFrom` gave some to decode steps. */
  get prefillIds(): readonly number[] {
    return this.prefill;
  }

  /**
   * Prefill (or a checkpoint) covers the first `covered` context tokens; the resumed tokens after them
   * are fed by decode steps, one a step, their logits unused, and sampling takes over after the last.
   * Decode steps rebuild the state bit for bit as the earlier attempt's steps built it (whatever the
   * batch around them), where prefilling those tokens agrees only up to float rounding, and one
   * rounding can flip a later sample.
   */
  replayFrom(covered: number): void {
    this.prefill = this.context.slice(0, covered);
    this.replay = this.context.slice(covered);
    this.replayed = 0;
  }

  /** Whether decode steps still feed resumed tokens: the logits in hand predict a token already known. */
  get replaying(): boolean {
    return this.replayed < this.replay.length;
  }

  /** Resumed tokens decode steps still feed. */
  get replayTokens(): number {
    return this.replay.length - this.replayed;
  }

  /** Gives the resumed tokens not replayed yet to prefill: all the context is then prefill's to see. */
  stopReplay(): void {
    this.replayFrom(this.context.length);
  }

  /** After a decode step: counts the resumed token it fed, if it fed one. */
  stepped(): void {
    if (this.replaying) this.replayed++;
  }

  get generatedTokens(): number {
    return this.stop.tokenCount;
  }

  /** The token the next decode step feeds in. */
  get lastToken(): number {
    return this.replaying ? this.replay[this.replayed]! : this.last;
  }

  /** Samples the next token; the draw for step t depends only on (seed, t), so resumes are exact. */
  accept(logits: Float32Array): StepOutcome {
    const token = sampleToken(logits, this.request.sampling, this.generatedTokens);
    const status = this.consume(token);
    const tail = status.reason === 'eos_token' || status.reason === 'length' ? this.flush() : '';
    return { tokenIds: [token], text: status.release + tail, finished: status.reason };
  }

  /** Ends the sequence early (cancel) or after EOS / length: releases any text held back. */
  flush(): string {
    this.text += this.detokenizer.flush();
    return this.stop.finish(this.text).release;
  }

  private consume(token: number): StopStatus {
    this.last = token;
    this.text += this.detokenizer.push(token);
    return this.stop.update(token, this.text);
  }
}
