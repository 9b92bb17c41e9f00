import type { CompiledModel } from '../runtime/compiled-model.js';
import type { SequenceBatch } from '../state/sequence-batch.js';
import { StateFormatError } from '../state/state-errors.js';
import type { ActiveSequence } from './active-sequence.js';
import type { ResumedFrom, ResumeState } from './generation-request.js';
import type { StepTimer } from './step-timings.js';

/** How a resumed sequence's state was rebuilt, as its `started` event says. */
export interface ResumeOutcome {
  from: ResumedFrom;
  checkpointError?: string;
}

/**
 * An admitted sequence on its way into the decode batch. Short contexts are prefilled together in
 * the decode batch itself; the others go on chunk by chunk in a batch of their own (`own`), from the
 * state they have: a context longer than a chunk, one resumed from a checkpoint, and one that left
 * the decode batch part-way through a replay (`leaving`). The scheduler moves it into the decode
 * batch after its last chunk (one copy of its state).
 */
export class Prefilling {
  /** Context tokens in its state so far (prefilled or imported). */
  fed = 0;
  own: { batch: SequenceBatch; seq: number } | null = null;
  resume?: ResumeOutcome;

  private constructor(
    readonly active: ActiveSequence,
    /** A checkpoint still to import (cleared once tried). */
    private checkpoint: ResumeState | undefined,
    /** It left the decode batch part-way through a replay: its `started` event is out. */
    readonly rejoining: boolean,
  ) {}

  static admitted(active: ActiveSequence, checkpoint: ResumeState | undefined): Prefilling {
    return new Prefilling(active, checkpoint, false);
  }

  /**
   * Takes a replaying sequence out of `batch` (one copy of its state) to prefill the resumed tokens it
   * has not replayed yet.
   */
  static leaving(model: CompiledModel, batch: SequenceBatch, seq: number, active: ActiveSequence): Prefilling {
    const item = new Prefilling(active, undefined, true);
    const own = model.newBatch({ capacity: 1 });
    item.own = { batch: own, seq: own.adopt(batch, seq) };
    item.fed = own.length(item.own.seq);
    active.stopReplay();
    return item;
  }

  /** Whether it goes on in a batch of its own rather than in a group of short contexts. */
  alone(chunkTokens: number): boolean {
    return this.checkpoint !== undefined || this.own !== null || this.active.prefillIds.length > chunkTokens;
  }

  /**
   * Imports its checkpoint, if one is still to try, into a batch of its own, so only the tokens after
   * it are fed. Returns the resumed tokens the state now covers: the checkpoint's, or 0 when it does
   * not fit this model or this request (the state is rebuilt from the prompt: same output, more work);
   * null when there was no checkpoint to try.
   */
  restore(model: CompiledModel): number | null {
    const checkpoint = this.checkpoint;
    if (!checkpoint) return null;
    this.checkpoint = undefined;
    const { active } = this;
    const { state, tokens } = checkpoint;
    try {
      if (!Number.isInteger(tokens) || tokens < 0 || tokens >= active.resumedTokens)
        throw new StateFormatError(
          `the checkpoint covers ${tokens} tokens; it must be fewer than the ${active.resumedTokens} resumed`,
        );
      const batch = model.newBatch({ capacity: 1 });
      const seq = batch.importState(state);
      const expected = active.promptTokens + tokens;
      if (batch.length(seq) !== expected)
        throw new StateFormatError(`the checkpoint holds ${batch.length(seq)} tokens of context, not ${expected}`);
      this.own = { batch, seq };
      this.fed = expected;
      this.resume = { from: 'checkpoint' };
      return tokens;
    } catch (error) {
      this.resume = { from: 'prefill', checkpointError: (error as Error).message };
      return 0;
    }
  }

  /** Prefills a chunk into its own batch (made by its first chunk); returns the logits after it. */
  async extend(model: CompiledModel, timer: StepTimer, chunk: number[]): Promise<Float32Array> {
    if (this.own) {
      const { batch, seq } = this.own;
      return (await timer.time('prefill', () => batch.extend(new Map([[seq, chunk]])))).get(seq)!;
    }
    const batch = model.newBatch({ capacity: 1 });
    const [first] = await timer.time('prefill', () => batch.prefill([chunk]));
    this.own = { batch, seq: first!.id };
    return first!.logits;
  }
}
