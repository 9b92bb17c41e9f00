import type { CompiledModel } from '../runtime/compiled-model.js';
import type { SequenceBatch } from '../state/sequence-batch.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { ActiveSequence, type StepOutcome } from './active-sequence.js';
import type { FinishReason, GenerationEvent, GenerationRequest } from './generation-request.js';

export interface SchedulerOptions {
  /** Sequences decoded together in one batch; further requests wait for a free place. */
  maxSequences: number;
  onEvent: (event: GenerationEvent) => void;
  /**
   * Upper bound on batch × longest_prompt² per prefill call: prefill attention materialises a
   * [batch, heads, T, T] score tensor, so long prompts are prefilled in smaller groups (alone, past
   * the budget) rather than padded together. @defaultValue 2^24
   */
  prefillBudget?: number;
  /** Longest context one prefill call takes; the rest of a longer one goes through decode steps. @defaultValue 4096 */
  maxPrefillTokens?: number;
}

const DEFAULT_PREFILL_BUDGET = 2 ** 24;
const DEFAULT_MAX_PREFILL_TOKENS = 4096;

/** Consecutive groups (admission order kept) whose padded size batch × T² stays within the budget. */
export function prefillGroups<T extends { contextIds: readonly number[] }>(sequences: T[], budget: number): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let longest = 0;
  for (const s of sequences) {
    const t = Math.max(longest, s.contextIds.length);
    if (group.length > 0 && (group.length + 1) * t * t > budget) {
      groups.push(group);
      [group, longest] = [[], 0];
    }
    group.push(s);
    longest = Math.max(longest, s.contextIds.length);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/**
 * Continuous batching over one SequenceBatch: between decode steps it drops finished or cancelled
 * sequences and prefills waiting ones, so a long generation never holds a short one back.
 * One loop owns the batch; `submit` and `cancel` only leave notes for it.
 */
export class Scheduler {
  private readonly batch: SequenceBatch;
  private readonly waiting: GenerationRequest[] = [];
  private readonly running = new Map<number, ActiveSequence>();
  private readonly cancelled = new Set<string>();
  private loop: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly model: CompiledModel,
    private readonly tokenizer: Tokenizer,
    private readonly options: SchedulerOptions,
  ) {
    this.batch = model.newBatch();
  }

  submit(request: GenerationRequest): void {
    if (this.closed) throw new Error('scheduler is closed');
    this.waiting.push(request);
    this.wake();
  }

  /** Takes effect at the next step boundary: at most one more token is decoded for it. */
  cancel(id: string): void {
    const at = this.waiting.findIndex((r) => r.id === id);
    if (at >= 0) {
      this.waiting.splice(at, 1);
      this.emit({ type: 'finished', id, reason: 'cancelled', promptTokens: 0, generatedTokens: 0 });
      return;
    }
    if ([...this.running.values()].some((s) => s.id === id)) this.cancelled.add(id);
  }

  /** Waits for every submitted request to finish; new submissions are refused. */
  async close(): Promise<void> {
    this.closed = true;
    await this.loop;
  }

  private wake(): void {
    // A failure outside any one sequence (a bug) fails the running ones rather than the process.
    this.loop ??= this.run()
      .catch((error: unknown) => {
        this.failAll(error instanceof Error ? error : new Error(String(error)));
      })
      .finally(() => {
        this.loop = null;
        if (this.waiting.length > 0) this.wake();
      });
  }

  private async run(): Promise<void> {
    while (this.waiting.length > 0 || this.running.size > 0) {
      this.dropCancelled();
      await this.admit();
      if (this.running.size > 0) await this.decodeStep();
      // Let submissions and cancellations in between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private dropCancelled(): void {
    for (const [seq, active] of this.running) {
      if (!this.cancelled.delete(active.id)) continue;
      this.emitTokens(active, [], active.flush());
      this.finish(seq, 'cancelled');
    }
  }

  /** Prefills as many waiting requests as there are free places, batched within the prefill budget. */
  private async admit(): Promise<void> {
    const free = this.options.maxSequences - this.running.size;
    if (free <= 0 || this.waiting.length === 0) return;
    const admitted: ActiveSequence[] = [];
    for (const request of this.waiting.splice(0, free)) {
      try {
        const active = new ActiveSequence(request, this.tokenizer);
        if (active.resumedFinish) this.finishResumed(active, active.resumedFinish);
        else admitted.push(active);
      } catch (error) {
        this.emit({ type: 'failed', id: request.id, message: (error as Error).message });
      }
    }
    const head = this.options.maxPrefillTokens ?? DEFAULT_MAX_PREFILL_TOKENS;
    const fits = admitted.filter((s) => s.contextIds.length <= head);
    for (const group of prefillGroups(fits, this.options.prefillBudget ?? DEFAULT_PREFILL_BUDGET))
      await this.prefill(group);
    for (const long of admitted.filter((s) => s.contextIds.length > head)) await this.prefillLong(long);
  }

  private async prefill(admitted: ActiveSequence[]): Promise<void> {
    let prefilled: { id: number; logits: Float32Array }[];
    try {
      prefilled = await this.batch.prefill(admitted.map((s) => s.contextIds));
    } catch (error) {
      for (const s of admitted) this.emit({ type: 'failed', id: s.id, message: (error as Error).message });
      return;
    }
    prefilled.forEach(({ id: seq, logits }, i) => {
      this.start(seq, admitted[i]!, logits);
    });
  }

  /**
   * A context past `maxPrefillTokens` (a long prompt, or a long generation being resumed): prefill
   * its head, feed the rest one decode step at a time in a scratch batch (memory O(n) instead of
   * the prefill's O(n^2)), then move the state into the shared batch. The other sequences wait.
   */
  private async prefillLong(active: ActiveSequence): Promise<void> {
    const head = this.options.maxPrefillTokens ?? DEFAULT_MAX_PREFILL_TOKENS;
    try {
      const scratch = this.model.newBatch();
      const [first] = await scratch.prefill([active.contextIds.slice(0, head)]);
      const id = first!.id;
      let logits = first!.logits;
      for (const token of active.contextIds.slice(head)) logits = (await scratch.step(new Map([[id, token]]))).get(id)!;
      this.start(this.batch.importState(scratch.exportState(id)), active, logits);
    } catch (error) {
      this.emit({ type: 'failed', id: active.id, message: (error as Error).message });
    }
  }

  /** A prefilled sequence joins the running ones and takes its first sampled token. */
  private start(seq: number, active: ActiveSequence, logits: Float32Array): void {
    this.running.set(seq, active);
    this.emit({ type: 'started', id: active.id, promptTokens: active.promptTokens });
    this.advance(seq, active, logits);
  }

  private async decodeStep(): Promise<void> {
    const tokens = new Map([...this.running].map(([seq, active]) => [seq, active.lastToken]));
    let logits: Map<number, Float32Array>;
    try {
      logits = await this.batch.step(tokens);
    } catch (error) {
      this.failAll(error as Error);
      return;
    }
    for (const [seq, active] of [...this.running]) this.advance(seq, active, logits.get(seq)!);
  }

  /** Samples the next token of one sequence and emits what it produced. */
  private advance(seq: number, active: ActiveSequence, logits: Float32Array): void {
    let outcome: StepOutcome;
    try {
      outcome = active.accept(logits);
    } catch (error) {
      // One sequence's sampling failure must not end the others.
      this.emit({ type: 'failed', id: this.drop(seq).id, message: (error as Error).message });
      return;
    }
    this.emitTokens(active, outcome.tokenIds, outcome.text);
    if (outcome.finished) this.finish(seq, outcome.finished);
  }

  private finish(seq: number, reason: FinishReason): void {
    this.emitFinished(this.drop(seq), reason);
  }

  /** Takes a sequence out of the batch; its state is released. */
  private drop(seq: number): ActiveSequence {
    const active = this.running.get(seq)!;
    this.running.delete(seq);
    this.batch.remove(seq);
    return active;
  }

  /** A resumed request whose earlier attempt already produced its last token: only `finished` is owed. */
  private finishResumed(active: ActiveSequence, reason: FinishReason): void {
    this.emit({ type: 'started', id: active.id, promptTokens: active.promptTokens });
    this.emitTokens(active, [], active.flush());
    this.emitFinished(active, reason);
  }

  private emitFinished(active: ActiveSequence, reason: FinishReason): void {
    this.emit({
      type: 'finished',
      id: active.id,
      reason,
      promptTokens: active.promptTokens,
      generatedTokens: active.generatedTokens,
    });
  }

  private emitTokens(active: ActiveSequence, tokenIds: number[], text: string): void {
    if (tokenIds.length === 0 && text.length === 0) return;
    this.emit({ type: 'tokens', id: active.id, tokenIds, text, generated: active.generatedTokens });
  }

  private failAll(error: Error): void {
    for (const seq of [...this.running.keys()])
      this.emit({ type: 'failed', id: this.drop(seq).id, message: error.message });
  }

  private emit(event: GenerationEvent): void {
    this.options.onEvent(event);
  }
}
