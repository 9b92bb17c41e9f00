import ort from 'onnxruntime-node';
import type { ModelSpec } from '../model/model-spec.js';
import { BatchState } from './batch-state.js';
import type { Feeds, ModelRunner } from './model-runner.js';
import { decodeState, encodeState } from './state-codec.js';
import {
  BatchBusyError,
  EmptyPromptError,
  InvalidTokenError,
  StepTokensError,
  UnknownSequenceError,
} from './state-errors.js';
import { configFingerprint, stateByteSize, stateLayout, type LayerState } from './state-layout.js';

const int64 = (values: readonly number[], dims: number[]) =>
  new ort.Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    dims,
  );

/** Right-pads chunks with token 0 to the longest: [n, seq]. */
function chunkFeeds(chunks: readonly (readonly number[])[], past: readonly number[]): { feeds: Feeds; seq: number } {
  const seq = Math.max(1, ...chunks.map((c) => c.length));
  const ids = chunks.flatMap((c) => [...c, ...new Array<number>(seq - c.length).fill(0)]);
  return {
    feeds: {
      input_ids: int64(ids, [chunks.length, seq]),
      lengths: int64(
        chunks.map((c) => c.length),
        [chunks.length],
      ),
      past_lengths: int64(past, [past.length]),
    },
    seq,
  };
}

export interface BatchOptions {
  /** Slots preallocated; more sequences double it (one copy of the batch's state). @defaultValue 1 */
  capacity?: number;
}

const DEFAULT_CAPACITY = 1;

/**
 * The sequences decoded together and their cached state. Each sequence has an id and a slot (its
 * row in every state buffer) out of a preallocated capacity: joining takes a free slot and writes
 * only that sequence's state, leaving frees the slot and copies nothing. The graphs run over every
 * slot (free ones have length 0 and are ignored), so the capacity doubles when full and halves when
 * three quarters are free (both copy the live state once, amortised over the joins and leaves).
 * Per decode step the work is the graph's single read of the caches plus writing one new K/V row
 * per sequence in place. Calls must not overlap (one operation at a time), which the scheduler's
 * loop guarantees.
 */
export class SequenceBatch {
  private slotIds: number[]; // slot -> id, -1 when free
  private lengths: number[]; // slot -> tokens cached, 0 when free
  private readonly slotOf = new Map<number, number>();
  private readonly layout: LayerState[];
  private readonly fingerprint: string;
  private readonly minCapacity: number;
  private state: BatchState;
  private nextId = 0;
  private busy = false;

  constructor(
    readonly spec: ModelSpec,
    private readonly runner: ModelRunner,
    options: BatchOptions = {},
  ) {
    this.layout = stateLayout(spec);
    this.fingerprint = configFingerprint(spec);
    this.minCapacity = Math.max(1, options.capacity ?? DEFAULT_CAPACITY);
    this.state = new BatchState(this.layout, this.minCapacity);
    this.slotIds = new Array<number>(this.minCapacity).fill(-1);
    this.lengths = new Array<number>(this.minCapacity).fill(0);
  }

  get size(): number {
    return this.slotOf.size;
  }

  /** Slots the graphs currently run over. */
  get capacity(): number {
    return this.state.slots;
  }

  /** Bytes the batch's buffers hold (every slot, every reserved row). */
  get allocatedBytes(): number {
    return this.state.bytes;
  }

  ids(): number[] {
    return [...this.slotOf.keys()];
  }

  /** Tokens in the sequence's state. */
  length(id: number): number {
    return this.lengths[this.slot(id)]!;
  }

  /** f32 bytes of the sequence's state: constant Mamba and ring parts plus one full K/V row per token. */
  stateBytes(id: number): number {
    return stateByteSize(this.layout, this.length(id));
  }

  /** Adds the prompts as new sequences; returns their ids and last-token logits, in prompt order. */
  async prefill(prompts: readonly (readonly number[])[]): Promise<{ id: number; logits: Float32Array }[]> {
    prompts.forEach((p, i) => {
      if (p.length === 0) throw new EmptyPromptError(i);
      this.checkTokens(p, `prompt ${i}`);
    });
    if (prompts.length === 0) return [];
    return this.exclusive('prefill', async () => {
      // New sequences start from zeros: a scratch state of their own, not this batch's capacity.
      const { feeds, seq } = chunkFeeds(prompts, new Array<number>(prompts.length).fill(0));
      const outputs = await this.runner.prefill({ ...feeds, ...new BatchState(this.layout, prompts.length).feeds() });
      const ids = this.addSequences(prompts.map((p) => p.length));
      const slots = ids.map((id) => this.slot(id));
      slots.forEach((slot) => {
        this.state.clear(slot);
      });
      this.state.absorbChunk(
        outputs,
        slots.map((slot, j) => ({ slot, row: j, past: 0, n: prompts[j]!.length })),
        seq,
      );
      return ids.map((id, j) => ({ id, logits: this.logitsRow(outputs, j).slice() }));
    });
  }

  /**
   * Extends sequences already in the batch by a chunk of tokens each, from their cached state;
   * returns each one's logits after its chunk. The graph runs over every slot of the batch, so a
   * long context is best extended in a batch of its own (capacity 1) and then `adopt`ed.
   */
  async extend(chunks: Map<number, number[]>): Promise<Map<number, Float32Array>> {
    for (const [id, chunk] of chunks) {
      this.slot(id); // throws UnknownSequenceError
      if (chunk.length === 0) throw new StepTokensError(`extend needs at least one token for sequence ${id}`);
      this.checkTokens(chunk, `sequence ${id}`);
    }
    if (chunks.size === 0) return new Map();
    return this.exclusive('extend', async () => {
      const bySlot = this.slotIds.map((id) => chunks.get(id) ?? []);
      const { feeds, seq } = chunkFeeds(bySlot, this.lengths);
      const outputs = await this.runner.prefill({ ...feeds, ...this.state.feeds() });
      const placed = [...chunks].map(([id, chunk]) => {
        const slot = this.slot(id);
        return { slot, row: slot, past: this.lengths[slot]!, n: chunk.length };
      });
      this.state.absorbChunk(outputs, placed, seq);
      placed.forEach(({ slot, n }) => (this.lengths[slot] = this.lengths[slot]! + n));
      return new Map([...chunks.keys()].map((id) => [id, this.logitsRow(outputs, this.slot(id)).slice()]));
    });
  }

  /** One decode step: exactly one token for every active sequence. Returns each one's next logits. */
  async step(tokens: Map<number, number>): Promise<Map<number, Float32Array>> {
    this.checkStepTokens(tokens);
    if (this.size === 0) return new Map();
    return this.exclusive('step', async () => {
      const live = [...this.slotOf.values()];
      const ids = this.slotIds.map((id) => (id < 0 ? 0 : tokens.get(id)!));
      const feeds: Feeds = {
        input_ids: int64(ids, [this.capacity]),
        past_lengths: int64(this.lengths, [this.capacity]),
        ...this.state.feeds(),
      };
      const outputs = await this.runner.decode(feeds);
      this.state.absorbStep(
        outputs,
        live,
        live.map((slot) => this.lengths[slot]!),
      );
      for (const slot of live) this.lengths[slot] = this.lengths[slot]! + 1;
      return new Map([...this.slotOf].map(([id, slot]) => [id, this.logitsRow(outputs, slot)]));
    });
  }

  /** Drops a sequence: its slot is free for the next one; nothing is copied unless the batch shrinks. */
  remove(id: number): void {
    const slot = this.slot(id);
    this.guard('remove');
    this.slotIds[slot] = -1;
    this.lengths[slot] = 0;
    this.slotOf.delete(id);
    if (this.capacity > this.minCapacity && this.size * 4 <= this.capacity)
      this.resize(Math.max(this.minCapacity, Math.ceil(this.capacity / 2)));
  }

  /** Moves a sequence of another batch of the same model here (one copy of its state); returns its new id. */
  adopt(from: SequenceBatch, id: number): number {
    const fromSlot = from.slot(id);
    from.guard('adopt');
    this.guard('adopt');
    const length = from.lengths[fromSlot]!;
    const [mine] = this.addSequences([length]) as [number];
    this.state.copySlot(from.state, fromSlot, this.slot(mine), length);
    from.remove(id);
    return mine;
  }

  /** The sequence's whole state as bytes (state-codec.ts); full K/V holds only its live rows. */
  exportState(id: number): Uint8Array {
    const length = this.length(id);
    return encodeState(this.fingerprint, this.layout, { length, blocks: this.state.read(this.slot(id), length) });
  }

  /** Adds a sequence from exported bytes; rejects other configs (StateConfigMismatchError). Returns its id. */
  importState(bytes: Uint8Array): number {
    const decoded = decodeState(bytes, this.fingerprint, this.layout);
    this.guard('importState');
    const [id] = this.addSequences([decoded.length]) as [number];
    this.state.write(this.slot(id), decoded.blocks, decoded.length);
    return id;
  }

  private slot(id: number): number {
    const slot = this.slotOf.get(id);
    if (slot === undefined) throw new UnknownSequenceError(id);
    return slot;
  }

  private longest(): number {
    return Math.max(0, ...this.lengths);
  }

  private logitsRow(outputs: Feeds, row: number): Float32Array {
    const vocab = this.spec.config.vocabSize;
    return (outputs.logits!.data as Float32Array).subarray(row * vocab, (row + 1) * vocab);
  }

  /** Gives new sequences of these lengths free slots (doubling the capacity when there are too few). */
  private addSequences(lengths: readonly number[]): number[] {
    const needed = this.size + lengths.length;
    if (needed > this.capacity) this.resize(Math.max(needed, 2 * this.capacity));
    let free = 0;
    return lengths.map((length) => {
      while (this.slotIds[free]! >= 0) free++;
      const id = this.nextId++;
      this.slotOf.set(id, free);
      this.slotIds[free] = id;
      this.lengths[free] = length;
      return id;
    });
  }

  /** New buffers of `capacity` slots with the live sequences packed at the front (one copy of each). */
  private resize(capacity: number): void {
    const next = new BatchState(this.layout, capacity, this.longest() + 1);
    const ids = new Array<number>(capacity).fill(-1);
    const lengths = new Array<number>(capacity).fill(0);
    [...this.slotOf].forEach(([id, slot], to) => {
      next.copySlot(this.state, slot, to, this.lengths[slot]!);
      ids[to] = id;
      lengths[to] = this.lengths[slot]!;
      this.slotOf.set(id, to);
    });
    [this.state, this.slotIds, this.lengths] = [next, ids, lengths];
  }

  private checkTokens(tokens: readonly number[], owner: string): void {
    for (const token of tokens) this.checkToken(token, owner);
  }

  private checkToken(token: number, owner: string): void {
    if (!Number.isInteger(token) || token < 0 || token >= this.spec.config.vocabSize) {
      throw new InvalidTokenError(
        `token ${token} of ${owner} is outside the vocabulary (size ${this.spec.config.vocabSize})`,
      );
    }
  }

  private checkStepTokens(tokens: Map<number, number>): void {
    for (const id of tokens.keys()) if (!this.slotOf.has(id)) throw new UnknownSequenceError(id);
    const missing = this.ids().filter((id) => !tokens.has(id));
    if (missing.length > 0)
      throw new StepTokensError(`step needs a token for every active sequence; missing ${missing.join(', ')}`);
    for (const [id, token] of tokens) this.checkToken(token, `sequence ${id}`);
  }

  private guard(operation: string): void {
    if (this.busy) throw new BatchBusyError(operation);
  }

  private async exclusive<T>(operation: string, run: () => Promise<T>): Promise<T> {
    this.guard(operation);
    this.busy = true;
    try {
      return await run();
    } finally {
      this.busy = false;
    }
  }
}
