import type { Tokenizer } from '@sambay/tokenizer';
import type { CompiledModel } from '../runtime/compiled-model.js';
import type { SequenceBatch } from '../state/sequence-batch.js';
import { stateByteSize, type LayerState, stateLayout } from '../state/state-layout.js';
import { ActiveSequence, type StepOutcome } from './active-sequence.js';
import type { FinishReason, GenerationEvent, GenerationRequest } from './generation-request.js';
import { DEFAULT_PREFILL_BUDGET, prefillGroups } from './prefill-groups.js';
import { Prefilling, type ResumeOutcome } from './prefilling.js';
import { StepTimer, type StepTimings } from './step-timings.js';

export interface SchedulerOptions {
  /** Most sequences decoded together; further requests wait for a free place. @defaultValue no limit */
  maxSequences?: number;
  /**
   * Bytes of cached state the running and prefilling sequences may take, each counted at its final
   * length (prompt + max_tokens, state-layout.ts `stateByteSize`); requests wait until theirs fits,
   * and one that could never fit fails. @defaultValue no limit
   */
  stateBudgetBytes?: number;
  onEvent: (event: GenerationEvent) => void;
  /**
   * Prefill work between two decode steps, in tokens: a longer context (a long prompt, or a long
   * generation being resumed) is prefilled one chunk of this size per step, from its own state, so
   * the running sequences wait at most one chunk between tokens. @defaultValue 256
   */
  prefillChunkTokens?: number;
  /**
   * Upper bound on batch × longest_prompt² per prefill call of short prompts: prefill attention
   * materialises a [batch, heads, T, T] score tensor, so they are prefilled in smaller groups
   * rather than padded together. @defaultValue 2^24
   */
  prefillBudget?: number;
  /**
   * How long a resumed sequence may spend feeding the tokens after its checkpoint (or prompt) by
   * decode steps, one a step: they rebuild the earlier attempt's state bit for bit, so the
   * continuation is the one an uninterrupted run would give (`ActiveSequence.replayFrom`). When the
   * tokens left times the engine's recent step time exceed it, the sequence leaves the batch and
   * prefills them instead: faster, but equal only up to float rounding. 0: always prefill.
   * @defaultValue 10000
   */
  maxReplayMs?: number;
}

/** What the scheduler holds now (`Scheduler.stats`). */
export interface SchedulerStats {
  /** Sequences in the decode batch. */
  batchSize: number;
  /** Admitted sequences whose context is still being prefilled. */
  prefilling: number;
  waiting: number;
  /** State bytes the running and prefilling sequences hold now. */
  stateBytes: number;
  /** Their state at prompt + max_tokens: what admission counts against the budget. */
  reservedStateBytes: number;
  stateBudgetBytes: number;
  /** Bytes of the decode batch's buffers (every slot, every reserved row). */
  allocatedBytes: number;
}

const DEFAULT_PREFILL_CHUNK_TOKENS = 256;
const DEFAULT_MAX_REPLAY_MS = 10_000;

interface Waiting {
  request: GenerationRequest;
  active?: ActiveSequence; // made when the request reaches the head of the queue
}

/**
 * Continuous batching over one SequenceBatch: between decode steps it drops finished or cancelled
 * sequences, admits waiting ones while their state fits the budget, and does at most one chunk of
 * prefill work, so a long prompt never stalls the running sequences for more than a chunk.
 * One loop owns the batches; `submit` and `cancel` only leave notes for it.
 */
export class Scheduler {
  private readonly batch: SequenceBatch;
  private readonly layout: LayerState[];
  private readonly waiting: Waiting[] = [];
  private readonly prefilling: Prefilling[] = [];
  private readonly running = new Map<number, ActiveSequence>();
  private readonly reserved = new Map<string, number>(); // request id -> state bytes at its final length
  private readonly cancelled = new Set<string>();
  private readonly checkpoints = new Set<string>(); // request ids owed a `checkpoint` event
  private readonly timer = new StepTimer();
  private loop: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly model: CompiledModel,
    private readonly tokenizer: Tokenizer,
    private readonly options: SchedulerOptions,
  ) {
    this.batch = model.newBatch();
    this.layout = stateLayout(model.spec);
  }

  submit(request: GenerationRequest): void {
    if (this.closed) throw new Error('scheduler is closed');
    this.waiting.push({ request });
    this.wake();
  }

  /** Takes effect at the next step boundary: at most one more token is decoded for it. */
  cancel(id: string): void {
    const at = this.waiting.findIndex((w) => w.request.id === id);
    if (at >= 0) {
      this.waiting.splice(at, 1);
      this.emit({ type: 'finished', id, reason: 'cancelled', promptTokens: 0, generatedTokens: 0 });
      return;
    }
    // Every admitted request holds a reservation, including one whose prefill is running right now
    // (out of `prefilling`, not yet `running`): its cancel waits in `cancelled` for the next drop.
    if (this.reserved.has(id)) this.cancelled.add(id);
  }

  /**
   * Asks for a `checkpoint` event of a request: at the first step boundary where it is decoding,
   * after that step's `tokens` event. One event however often it is asked before then; none if the
   * request ends first. Unknown ids are ignored.
   */
  checkpoint(id: string): void {
    const admitted = [...this.running.values(), ...this.prefilling.map((p) => p.active)];
    if (admitted.some((s) => s.id === id) || this.waiting.some((w) => w.request.id === id)) this.checkpoints.add(id);
  }

  /** Waits for every submitted request to finish; new submissions are refused. */
  async close(): Promise<void> {
    this.closed = true;
    await this.loop;
  }

  /** Durations of the model calls since the last call (prefills and decode steps), in seconds. */
  takeStepTimings(): StepTimings {
    return this.timer.take();
  }

  stats(): SchedulerStats {
    const admitted = [...this.running.values(), ...this.prefilling.map((p) => p.active)];
    const running = [...this.running.keys()].reduce((sum, seq) => sum + this.batch.stateBytes(seq), 0);
    const prefilling = this.prefilling.reduce((sum, p) => sum + (p.own ? p.own.batch.stateBytes(p.own.seq) : 0), 0);
    return {
      batchSize: this.running.size,
      prefilling: this.prefilling.length,
      waiting: this.waiting.length,
      stateBytes: running + prefilling,
      reservedStateBytes: admitted.reduce((sum, s) => sum + (this.reserved.get(s.id) ?? 0), 0),
      stateBudgetBytes: this.options.stateBudgetBytes ?? Infinity,
      allocatedBytes: this.batch.allocatedBytes,
    };
  }

  private get chunkTokens(): number {
    return this.options.prefillChunkTokens ?? DEFAULT_PREFILL_CHUNK_TOKENS;
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
    while (this.waiting.length > 0 || this.prefilling.length > 0 || this.running.size > 0) {
      this.dropCancelled();
      this.admit();
      await this.prefillWork();
      if (this.running.size > 0) await this.decodeStep();
      this.emitCheckpoints();
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
    for (const item of [...this.prefilling]) {
      if (!this.cancelled.delete(item.active.id)) continue;
      this.prefilling.splice(this.prefilling.indexOf(item), 1);
      this.reserved.delete(item.active.id);
      this.emitFinished(item.active, 'cancelled');
    }
  }

  /** Moves waiting requests, in order, to prefill while places are free and their state fits the budget. */
  private admit(): void {
    const budget = this.options.stateBudgetBytes ?? Infinity;
    const places = this.options.maxSequences ?? Infinity;
    let used = this.stats().reservedStateBytes;
    while (this.waiting.length > 0 && this.running.size + this.prefilling.length < places) {
      const head = this.waiting[0]!;
      try {
        head.active ??= new ActiveSequence(head.request, this.tokenizer);
      } catch (error) {
        this.waiting.shift();
        this.emit({ type: 'failed', id: head.request.id, message: (error as Error).message });
        continue;
      }
      const active = head.active;
      const bytes = stateByteSize(this.layout, active.promptTokens + head.request.maxTokens);
      if (bytes > budget) {
        this.waiting.shift();
        const message = `the request's state (${bytes} bytes at prompt + max_tokens) exceeds the state budget of ${budget} bytes`;
        this.emit({ type: 'failed', id: active.id, message });
        continue;
      }
      if (used + bytes > budget) return; // waits for running sequences to finish
      this.waiting.shift();
      if (active.resumedFinish) {
        this.finishResumed(active, active.resumedFinish);
        continue;
      }
      used += bytes;
      this.reserved.set(active.id, bytes);
      const checkpoint = head.request.resumeState;
      if (!checkpoint) this.planReplay(active, 0); // with a checkpoint, once it is tried (`prefillChunk`)
      this.prefilling.push(Prefilling.admitted(active, checkpoint));
    }
  }

  /**
   * At most one chunk of prefill: one chunk of the first admitted context when it goes in a batch of
   * its own (longer than a chunk, or starting from a state), else the short contexts at the front of
   * the queue, together up to a chunk of tokens.
   */
  private async prefillWork(): Promise<void> {
    const head = this.prefilling[0];
    if (!head) return;
    if (head.alone(this.chunkTokens)) {
      await this.prefillChunk(head);
      return;
    }
    const group: ActiveSequence[] = [];
    let tokens = 0;
    for (const item of this.prefilling) {
      const n = item.active.prefillIds.length;
      if (item.alone(this.chunkTokens) || (group.length > 0 && tokens + n > this.chunkTokens)) break;
      group.push(item.active);
      tokens += n;
    }
    this.prefilling.splice(0, group.length);
    for (const part of prefillGroups(group, this.options.prefillBudget ?? DEFAULT_PREFILL_BUDGET))
      await this.prefill(part);
  }

  private async prefill(admitted: ActiveSequence[]): Promise<void> {
    let prefilled: { id: number; logits: Float32Array }[];
    try {
      prefilled = await this.timer.time('prefill', () => this.batch.prefill(admitted.map((s) => s.prefillIds)));
    } catch (error) {
      for (const s of admitted) this.fail(s, error as Error);
      return;
    }
    prefilled.forEach(({ id: seq, logits }, i) => {
      this.start(seq, admitted[i]!, logits);
    });
  }

  /**
   * The next chunk of a context that goes on in a batch of its own (so the graph runs over that one
   * sequence, from its cached state); after the last chunk the sequence moves into the decode batch
   * (one copy of its state). A resumed context with a checkpoint starts from the imported state,
   * which may already cover all that prefill must see.
   */
  private async prefillChunk(item: Prefilling): Promise<void> {
    const covered = item.restore(this.model);
    if (covered !== null) this.planReplay(item.active, covered);
    const ids = item.active.prefillIds;
    const chunk = ids.slice(item.fed, item.fed + this.chunkTokens);
    try {
      // No chunk: an imported checkpoint covers all that prefill must see, and there are no logits.
      const logits = chunk.length > 0 ? await item.extend(this.model, this.timer, chunk) : null;
      item.fed += chunk.length;
      if (item.fed < ids.length) return;
      this.prefilling.shift();
      const own = item.own!;
      const seq = this.batch.adopt(own.batch, own.seq);
      if (item.rejoining) this.rejoin(seq, item.active, logits!);
      else this.start(seq, item.active, logits, item.resume);
    } catch (error) {
      this.prefilling.splice(this.prefilling.indexOf(item), 1);
      this.fail(item.active, error as Error);
    }
  }

  private get maxReplayMs(): number {
    return this.options.maxReplayMs ?? DEFAULT_MAX_REPLAY_MS;
  }

  /**
   * A resumed sequence's tokens after the first `covered` (by its checkpoint) are replayed by decode
   * steps, unless replays are off; `stopSlowReplays` hands them to prefill if that turns out slow.
   */
  private planReplay(active: ActiveSequence, covered: number): void {
    if (covered < active.resumedTokens && this.maxReplayMs > 0) active.replayFrom(active.promptTokens + covered);
  }

  /**
   * A replaying sequence whose tokens left would take longer than `maxReplayMs` at the batch's
   * recent step time leaves the batch (one copy of its state) and prefills them in a batch of its
   * own, then rejoins. Measured rather than predicted: a worker that has just started knows its step
   * time only once it has taken a step.
   */
  private stopSlowReplays(): void {
    // Every step, so nothing is copied or sorted unless a sequence replays, and then once (deleting
    // the entry being visited is safe in a Map's iteration).
    let stepMs: number | undefined;
    for (const [seq, active] of this.running) {
      if (!active.replaying) continue;
      stepMs ??= this.timer.typicalDecodeMs();
      if (active.replayTokens * stepMs <= this.maxReplayMs) continue;
      this.running.delete(seq);
      this.prefilling.unshift(Prefilling.leaving(this.model, this.batch, seq, active));
    }
  }

  /**
   * A prefilled sequence says it started, joins the running ones and takes its first sampled token,
   * unless it replays resumed tokens first (`logits` is null only then: a checkpoint covered all
   * prefill had to see).
   */
  private start(seq: number, active: ActiveSequence, logits: Float32Array | null, resume?: ResumeOutcome): void {
    this.running.set(seq, active); // first: a checkpoint asked for at `started` is then owed
    const resumed = active.resumedTokens > 0;
    this.emit({
      type: 'started',
      id: active.id,
      promptTokens: active.promptTokens,
      ...(resumed ? { resumedFrom: resume?.from ?? 'prefill' } : {}),
      ...(resume?.checkpointError === undefined ? {} : { checkpointError: resume.checkpointError }),
      ...(active.replaying ? { replayTokens: active.replayTokens } : {}),
    });
    if (!active.replaying) this.advance(seq, active, logits!);
  }

  /** A sequence back from prefilling what it did not replay (`stopSlowReplays`) takes its next token. */
  private rejoin(seq: number, active: ActiveSequence, logits: Float32Array): void {
    this.running.set(seq, active);
    this.advance(seq, active, logits);
  }

  /**
   * The checkpoints asked for, of sequences now decoding. Each state has consumed the prompt and
   * all but the last sampled token (fed by the next step): `tokens` = its length - the prompt.
   */
  private emitCheckpoints(): void {
    if (this.checkpoints.size === 0) return;
    for (const [seq, active] of this.running) {
      if (!this.checkpoints.delete(active.id)) continue;
      const state = this.batch.exportState(seq);
      this.emit({ type: 'checkpoint', id: active.id, state, tokens: this.batch.length(seq) - active.promptTokens });
    }
  }

  private async decodeStep(): Promise<void> {
    const tokens = new Map([...this.running].map(([seq, active]) => [seq, active.lastToken]));
    let logits: Map<number, Float32Array>;
    try {
      logits = await this.timer.time('decode', () => this.batch.step(tokens));
    } catch (error) {
      this.failAll(error as Error);
      return;
    }
    for (const [seq, active] of [...this.running]) {
      active.stepped();
      if (!active.replaying) this.advance(seq, active, logits.get(seq)!);
    }
    this.stopSlowReplays();
  }

  /** Samples the next token of one sequence and emits what it produced. */
  private advance(seq: number, active: ActiveSequence, logits: Float32Array): void {
    let outcome: StepOutcome;
    try {
      outcome = active.accept(logits);
    } catch (error) {
      // One sequence's sampling failure must not end the others.
      this.fail(this.drop(seq), error as Error);
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
    this.reserved.delete(active.id);
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
    for (const seq of [...this.running.keys()]) this.fail(this.drop(seq), error);
    for (const item of this.prefilling.splice(0)) this.fail(item.active, error);
  }

  private fail(active: ActiveSequence, error: Error): void {
    this.reserved.delete(active.id);
    this.emit({ type: 'failed', id: active.id, message: error.message });
  }

  private emit(event: GenerationEvent): void {
    if (event.type === 'finished' || event.type === 'failed') {
      this.checkpoints.delete(event.id);
      this.cancelled.delete(event.id); // a cancel that came as it ended
    }
    this.options.onEvent(event);
  }
}
