import ort from 'onnxruntime-node';
import { pastName, presentName } from '../graph/io-names.js';
import { numel } from '../model/tensor.js';
import { blockRows, HeadMajorCache } from './head-major-cache.js';
import type { Feeds } from './model-runner.js';
import { SlotStore } from './slot-store.js';
import type { LayerState } from './state-layout.js';

type Buffers =
  | { kind: 'mamba'; s: Extract<LayerState, { kind: 'mamba' }>; conv: SlotStore; ssm: SlotStore }
  | { kind: 'kv'; s: Extract<LayerState, { kind: 'ring' | 'full' }>; key: HeadMajorCache; value: HeadMajorCache };

const MIN_FULL_ROWS = 16;
const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
const dataOf = (outputs: Feeds, name: string) => outputs[name]!.data as Float32Array;

/** Ring row of position p: NoPE attention does not care about row order, so a ring is exact. */
const ringRow = (s: { rows: number }, position: number) => position % s.rows;

/** Where a chunk's rows go: output batch row `row` holds `n` tokens of `slot`, which had `past` cached. */
export interface ChunkPlacement {
  slot: number;
  row: number;
  past: number;
  n: number;
}

/**
 * Every layer's state for a fixed number of slots: Mamba conv/SSM [slots, ...], sliding rings
 * of W - 1 rows, full caches of `rows` rows (grown when full); keys [slots, KV, hd, rows], values
 * [slots, KV, rows, hd] (head-major-cache.ts). The buffers are
 * the graph's state inputs as they are; the graph returns only new rows, written here in place.
 */
export class BatchState {
  private readonly layers: Buffers[];

  constructor(
    layout: readonly LayerState[],
    readonly slots: number,
    fullRows = MIN_FULL_ROWS,
  ) {
    this.layers = layout.map((s): Buffers => {
      if (s.kind === 'mamba')
        return { kind: 'mamba', s, conv: new SlotStore(numel(s.conv), slots), ssm: new SlotStore(numel(s.ssm), slots) };
      const rows = s.kind === 'ring' ? s.rows : blockRows(Math.max(MIN_FULL_ROWS, fullRows));
      const [heads, headDim] = s.row as [number, number];
      return {
        kind: 'kv',
        s,
        key: new HeadMajorCache('features', heads, headDim, rows, slots),
        value: new HeadMajorCache('rows', heads, headDim, rows, slots),
      };
    });
  }

  /** Bytes held by the buffers (all slots, all reserved rows). */
  get bytes(): number {
    return this.layers.reduce(
      (sum, b) =>
        sum +
        4 * (b.kind === 'mamba' ? b.conv.data.length + b.ssm.data.length : b.key.data.length + b.value.data.length),
      0,
    );
  }

  /** Graph state inputs: every buffer as it is, no copy. */
  feeds(): Feeds {
    const feeds: Feeds = {};
    for (const b of this.layers) {
      const i = b.s.layer;
      if (b.kind === 'mamba') {
        feeds[pastName(i, 'conv_state')] = f32(b.conv.data, [this.slots, ...b.s.conv]);
        feeds[pastName(i, 'ssm_state')] = f32(b.ssm.data, [this.slots, ...b.s.ssm]);
        continue;
      }
      for (const [tensor, cache] of [
        ['key', b.key],
        ['value', b.value],
      ] as const)
        feeds[pastName(i, tensor)] = f32(cache.data, cache.dims);
    }
    return feeds;
  }

  /**
   * Takes a decode step's outputs: whole new Mamba states (every slot, free ones too); the new K/V
   * row of each slot in `slots` at its position `positions[j]`.
   */
  absorbStep(outputs: Feeds, slots: readonly number[], positions: readonly number[]): void {
    const longest = Math.max(0, ...positions);
    for (const b of this.layers) {
      const i = b.s.layer;
      if (b.kind === 'mamba') {
        b.conv.replace(dataOf(outputs, presentName(i, 'conv_state')));
        b.ssm.replace(dataOf(outputs, presentName(i, 'ssm_state')));
        continue;
      }
      const s = b.s;
      for (const [tensor, cache] of [
        ['key', b.key],
        ['value', b.value],
      ] as const) {
        const rows = dataOf(outputs, presentName(i, tensor)); // [slots, KV, hd]
        if (s.kind === 'full') cache.reserve(longest + 1);
        slots.forEach((slot, j) => {
          const p = positions[j]!;
          cache.write(s.kind === 'ring' ? ringRow(s, p) : p, slot, rows, slot * cache.rowSize);
        });
      }
    }
  }

  /** Takes a prefill's outputs (chunks padded to `seq`) for the placed slots only. */
  absorbChunk(outputs: Feeds, placements: readonly ChunkPlacement[], seq: number): void {
    for (const b of this.layers) {
      const i = b.s.layer;
      if (b.kind === 'mamba') {
        for (const [store, tensor] of [
          [b.conv, 'conv_state'],
          [b.ssm, 'ssm_state'],
        ] as const) {
          const out = dataOf(outputs, presentName(i, tensor));
          for (const { slot, row } of placements)
            store.slot(slot).set(out.subarray(row * store.perSlot, (row + 1) * store.perSlot));
        }
        continue;
      }
      const s = b.s;
      for (const [tensor, cache] of [
        ['key', b.key],
        ['value', b.value],
      ] as const) {
        const rows = dataOf(outputs, presentName(i, tensor)); // [batch, seq, KV, hd]
        for (const { slot, row, past, n } of placements) {
          if (s.kind === 'full') cache.reserve(past + n + 1);
          const first = s.kind === 'ring' ? Math.max(0, n - s.rows) : 0; // a ring keeps the last W - 1
          for (let p = first; p < n; p++)
            cache.write(
              s.kind === 'ring' ? ringRow(s, past + p) : past + p,
              slot,
              rows,
              (row * seq + p) * cache.rowSize,
            );
        }
      }
    }
  }

  /** Gives `slot` to a new sequence: its ring rows are zeroed (the rest is overwritten before it is read). */
  clear(slot: number): void {
    for (const b of this.layers)
      if (b.kind === 'kv' && b.s.kind === 'ring')
        [b.key, b.value].forEach((c) => {
          c.clear(slot);
        });
  }

  /** Copies one sequence's state (`length` tokens) from `from`'s slot `fromSlot` into `slot`. */
  copySlot(from: BatchState, fromSlot: number, slot: number, length: number): void {
    this.layers.forEach((b, l) => {
      const src = from.layers[l]!;
      if (b.kind === 'mamba' && src.kind === 'mamba') {
        b.conv.slot(slot).set(src.conv.slot(fromSlot));
        b.ssm.slot(slot).set(src.ssm.slot(fromSlot));
      } else if (b.kind === 'kv' && src.kind === 'kv') {
        const rows = b.s.kind === 'ring' ? b.s.rows : length;
        if (b.s.kind === 'full') {
          b.key.reserve(length + 1);
          b.value.reserve(length + 1);
        }
        b.key.copySlot(src.key, fromSlot, slot, rows);
        b.value.copySlot(src.value, fromSlot, slot, rows);
      }
    });
  }

  /** A copy of one slot's state, as the blocks of `stateBlocks(layout, length)`. */
  read(slot: number, length: number): Float32Array[] {
    return this.layers.flatMap((b) => {
      if (b.kind === 'mamba') return [b.conv.slot(slot).slice(), b.ssm.slot(slot).slice()];
      const rows = b.s.kind === 'ring' ? b.s.rows : length;
      return [b.key.read(slot, rows), b.value.read(slot, rows)];
    });
  }

  /** Inverse of `read`. */
  write(slot: number, blocks: readonly Float32Array[], length: number): void {
    let next = 0;
    for (const b of this.layers) {
      if (b.kind === 'mamba') {
        b.conv.slot(slot).set(blocks[next++]!);
        b.ssm.slot(slot).set(blocks[next++]!);
        continue;
      }
      const rows = b.s.kind === 'ring' ? b.s.rows : length;
      for (const cache of [b.key, b.value]) {
        const block = blocks[next++]!;
        if (b.s.kind === 'full') cache.reserve(length + 1);
        for (let t = 0; t < rows; t++) cache.write(t, slot, block, t * cache.rowSize);
      }
    }
  }
}
