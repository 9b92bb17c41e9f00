import { SamplingInvariantError } from '../sampling/sampling-error.js';
import type { FinishReason } from './generation-request.js';

/** The reasons a generation ends by itself (cancellation is decided elsewhere). */
export type StopReason = Extract<FinishReason, 'length' | 'eos_token' | 'stop_sequence'>;

export interface StopCriteriaOptions {
  /** Tokens to generate at most, EOS included. */
  maxTokens: number;
  eosTokenIds: readonly number[];
  /** Texts that end the generation; the output stops just before the first one. */
  stopStrings: readonly string[];
}

export interface StopStatus {
  /** Why the generation ends with this token; null while it goes on. */
  reason: StopReason | null;
  /**
   * The generated text [0, safeLength) is final: it never changes and holds no stop string. The rest
   * is held back because it could be the start of a stop string. Once `reason` is set, the output is
   * exactly text.slice(0, safeLength). Never decreases from one call to the next.
   */
  safeLength: number;
  /** text.slice(previous safeLength, safeLength): what a streaming caller may emit now. */
  release: string;
}

/**
 * Decides, token by token, whether a generation is done, and how much of its text may be streamed.
 *
 * Per token: `update(id, textSoFar)`, where textSoFar is all generated text so far (what the
 * streaming detokenizer has produced, this token included). A stop string wins over EOS, and EOS
 * over the length limit: the text must lose the stop string whatever else ended the generation, and
 * an EOS at the limit is the model finishing, not being cut off.
 *
 * When a generation ends on EOS or length, flush the detokenizer and call `finish(text)` with the
 * complete text to release what it added; `finish` is also the way out for a cancelled generation.
 * Replaying the same (id, text) calls rebuilds the same state, so a resumed generation can catch up.
 */
export class StopCriteria {
  private readonly maxTokens: number;
  private readonly eos: Set<number>;
  private readonly matchers: StopMatcher[];
  private tokens = 0;
  /** Text length the matchers have read. */
  private scanned = 0;
  private safe = 0;
  private stopAt: number | null = null;

  constructor(options: StopCriteriaOptions) {
    if (!Number.isSafeInteger(options.maxTokens) || options.maxTokens < 1) {
      throw new SamplingInvariantError(`StopCriteria: maxTokens ${options.maxTokens}`);
    }
    if (options.stopStrings.some((s) => s.length === 0))
      throw new SamplingInvariantError('StopCriteria: empty stop string');
    this.eos = new Set(options.eosTokenIds);
    this.matchers = options.stopStrings.map((s) => new StopMatcher(s));
    this.maxTokens = options.maxTokens;
  }

  /** Tokens seen so far. */
  get tokenCount(): number {
    return this.tokens;
  }

  /** Feeds the token just generated and the whole generated text including it. */
  update(tokenId: number, text: string): StopStatus {
    this.tokens++;
    if (this.findStop(text) !== null) return this.status('stop_sequence', text, this.stopAt!);
    if (this.eos.has(tokenId)) return this.status('eos_token', text, text.length);
    if (this.tokens >= this.maxTokens) return this.status('length', text, text.length);
    return this.status(null, text, text.length - this.heldBack());
  }

  /**
   * The generation is over (any reason): everything up to the first stop string is final. Reports
   * 'stop_sequence' if the text holds one, else null (the caller knows why it ended).
   */
  finish(text: string): StopStatus {
    const at = this.findStop(text);
    return this.status(at === null ? null : 'stop_sequence', text, at ?? text.length);
  }

  /**
   * Start of the first stop string in text. Only the text added since the last call is read (the
   * text before it never changes), so a token costs its new characters times the stop strings,
   * however long the generation or the stop strings are. Of the matches that end in the new text,
   * the one that starts first wins, as a search of the whole text would find.
   */
  private findStop(text: string): number | null {
    if (this.stopAt !== null) return this.stopAt;
    let first: number | null = null;
    for (const matcher of this.matchers) {
      const at = matcher.scan(text, this.scanned);
      if (at !== null && (first === null || at < first)) first = at;
    }
    this.scanned = Math.max(this.scanned, text.length);
    this.stopAt = first;
    return first;
  }

  /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
  private heldBack(): number {
    return Math.max(0, ...this.matchers.map((m) => m.matched));
  }

  private status(reason: StopReason | null, text: string, safeLength: number): StopStatus {
    const previous = this.safe;
    // Released text is never taken back (a later stop string cannot start inside it: see heldBack).
    this.safe = Math.max(previous, safeLength);
    return { reason, safeLength: this.safe, release: text.slice(previous, this.safe) };
  }
}

/**
 * One stop string, searched for incrementally (Knuth-Morris-Pratt): `matched` is how many of its
 * first characters the text read so far ends with, kept up to date one character at a time in
 * amortized constant time, so it is both the search for the string and what to hold back for it.
 */
class StopMatcher {
  /** border[i]: the longest proper prefix of stop[0..i] that is also a suffix of it. */
  private readonly border: Int32Array;
  matched = 0;

  constructor(private readonly stop: string) {
    this.border = new Int32Array(stop.length);
    for (let i = 1, k = 0; i < stop.length; i++) {
      while (k > 0 && stop[i] !== stop[k]) k = this.border[k - 1]!;
      if (stop[i] === stop[k]) k++;
      this.border[i] = k;
    }
  }

  /** Reads text[from..]; returns where the first match ending there starts, or null (then stays ready for more). */
  scan(text: string, from: number): number | null {
    const stop = this.stop;
    let k = this.matched;
    for (let i = from; i < text.length; i++) {
      while (k > 0 && text[i] !== stop[k]) k = this.border[k - 1]!;
      if (text[i] === stop[k]) k++;
      if (k === stop.length) {
        this.matched = k;
        return i + 1 - k;
      }
    }
    this.matched = k;
    return null;
  }
}
