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

/** Right-pads prompts with token 0 to the longest: [n, seq]. */
function prefillFeeds(prompts: readonly number[][]): { feeds: Feeds; seq: number } {
  const seq = Math.max(...prompts.map((p) => p.length));
  const ids = prompts.flatMap((p) => [...p, ...new Array<number>(seq - p.length).fill(0)]);
  return {
    feeds: {
      input_ids: int64(ids, [prompts.length, seq]),
      lengths: int64(
        prompts.map((p) => p.length),
        [prompts.length],
      ),
    },
    seq,
  };
}

/**
 * The sequences decoded together and their cached state. Each sequence has an id and a dense slot
 * (its row in every state buffer); removing a sequence moves the last slot into the hole. Per decode
 * step the work is the graph's read of the caches plus writing one new K/V row per sequence in place.
 * Calls must not overlap (one operation at a time), which the scheduler's loop guarantees.
 */
export class SequenceBatch {
  private readonly slotIds: number[] = []; // slot -> id
  private readonly lengths: number[] = []; // slot -> tokens cached
  private readonly slotOf = new Map<number, number>();
  private readonly layout: LayerState[];
  private readonly fingerprint: string;
  private readonly state: BatchState;
  private nextId = 0;
  private busy = false;

  constructor(
    readonly spec: ModelSpec,
    private readonly runner: ModelRunner,
  ) {
    this.layout = stateLayout(spec);
    this.fingerprint = configFingerprint(spec);
    this.state = new BatchState(this.layout);
  }

  get size(): number {
    return this.slotIds.length;
  }

  ids(): number[] {
    return [...this.slotIds];
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
  async prefill(prompts: number[][]): Promise<{ id: number; logits: Float32Array }[]> {
    prompts.forEach((p, i) => {
      if (p.length === 0) throw new EmptyPromptError(i);
      p.forEach((token) => {
        this.checkToken(token, `prompt ${i}`);
      });
    });
    if (prompts.length === 0) return [];
    return this.exclusive('prefill', async () => {
      const { feeds, seq } = prefillFeeds(prompts);
      const outputs = await this.runner.prefill(feeds);
      const logits = outputs.logits!.data as Float32Array;
      const vocab = this.spec.config.vocabSize;
      const ids = this.addSlots(prompts.map((p) => p.length));
      return ids.map((id, j) => {
        this.state.placePrefill(outputs, j, prompts[j]!.length, seq, this.slot(id));
        return { id, logits: logits.slice(j * vocab, (j + 1) * vocab) };
      });
    });
  }

  /** One decode step: exactly one token for every active sequence. Returns each one's next logits. */
  async step(tokens: Map<number, number>): Promise<Map<number, Float32Array>> {
    this.checkStepTokens(tokens);
    if (this.size === 0) return new Map();
    return this.exclusive('step', async () => {
      const ids = this.slotIds.map((id) => tokens.get(id)!);
      const feeds: Feeds = {
        input_ids: int64(ids, [this.size]),
        past_lengths: int64(this.lengths, [this.size]),
        ...this.state.feeds(this.size, Math.max(...this.lengths)),
      };
      const outputs = await this.runner.decode(feeds);
      this.state.absorb(outputs, this.lengths);
      this.lengths.forEach((n, slot) => (this.lengths[slot] = n + 1));
      const logits = outputs.logits!.data as Float32Array;
      const vocab = this.spec.config.vocabSize;
      return new Map(this.slotIds.map((id, slot) => [id, logits.subarray(slot * vocab, (slot + 1) * vocab)]));
    });
  }

  /** Drops a sequence; the last slot moves into its place (one copy of that slot's state). */
  remove(id: number): void {
    const slot = this.slot(id);
    this.guard('remove');
    const last = this.size - 1;
    const order = Array.from({ length: last }, (_, s) => (s === slot ? last : s));
    this.state.remap(order, Math.max(0, ...this.lengths));
    for (const list of [this.slotIds, this.lengths] as number[][]) {
      list[slot] = list[last]!;
      list.pop();
    }
    this.slotOf.delete(id);
    if (slot < last) this.slotOf.set(this.slotIds[slot]!, slot);
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
    const [id] = this.addSlots([decoded.length]) as [number];
    this.state.write(this.slot(id), decoded.blocks, decoded.length);
    return id;
  }

  private slot(id: number): number {
    const slot = this.slotOf.get(id);
    if (slot === undefined) throw new UnknownSequenceError(id);
    return slot;
  }

  /** Appends zeroed slots (one state copy for all of them) for new sequences of these lengths. */
  private addSlots(lengths: readonly number[]): number[] {
    const order = [...this.slotIds.keys(), ...lengths.map(() => -1)];
    this.state.remap(order, Math.max(0, ...this.lengths));
    return lengths.map((length) => {
      const id = this.nextId++;
      this.slotOf.set(id, this.slotIds.length);
      this.slotIds.push(id);
      this.lengths.push(length);
      return id;
    });
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
    const missing = this.slotIds.filter((id) => !tokens.has(id));
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
