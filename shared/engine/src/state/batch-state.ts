import ort from 'onnxruntime-node';
import { pastName, presentName } from '../graph/io-names.js';
import { numel } from '../model/tensor.js';
import type { Feeds } from './model-runner.js';
import { SlotStore } from './slot-store.js';
import type { LayerState } from './state-layout.js';
import { TimeMajorCache } from './time-major-cache.js';

type Buffers =
  | { kind: 'mamba'; s: Extract<LayerState, { kind: 'mamba' }>; conv: SlotStore; ssm: SlotStore }
  | { kind: 'kv'; s: Extract<LayerState, { kind: 'ring' | 'full' }>; key: TimeMajorCache; value: TimeMajorCache };

const INITIAL_FULL_ROWS = 16;
const f32 = (data: Float32Array, dims: number[]) => new ort.Tensor('float32', data, dims);
const dataOf = (outputs: Feeds, name: string) => outputs[name]!.data as Float32Array;

/** Ring row of position p: NoPE attention does not care about row order, so a ring is exact. */
const ringRow = (s: { rows: number }, position: number) => position % s.rows;

/**
 * Every layer's state for all slots of a batch: Mamba conv/SSM [slots, ...], sliding rings
 * [W - 1, slots, KV, hd], full K/V [capacity, slots, KV, hd]. Slots are dense (0..slots-1).
 */
export class BatchState {
  private readonly layers: Buffers[];

  constructor(layout: readonly LayerState[]) {
    this.layers = layout.map((s): Buffers => {
      if (s.kind === 'mamba')
        return { kind: 'mamba', s, conv: new SlotStore(numel(s.conv)), ssm: new SlotStore(numel(s.ssm)) };
      const rows = s.kind === 'ring' ? s.rows : INITIAL_FULL_ROWS;
      return {
        kind: 'kv',
        s,
        key: new TimeMajorCache(numel(s.row), rows),
        value: new TimeMajorCache(numel(s.row), rows),
      };
    });
  }

  /** New slot i takes old slot order[i] (-1: a fresh slot). `live`: rows of full K/V worth keeping. */
  remap(order: readonly number[], live: number): void {
    for (const b of this.layers) {
      if (b.kind === 'mamba')
        [b.conv, b.ssm].forEach((t) => {
          t.remap(order);
        });
      else
        [b.key, b.value].forEach((t) => {
          t.remap(order, b.s.kind === 'ring' ? t.rows : live);
        });
    }
  }

  /** Decode graph state inputs; full layers pass their first `maxLength` rows (a view, no copy). */
  feeds(slots: number, maxLength: number): Feeds {
    const feeds: Feeds = {};
    for (const b of this.layers) {
      const i = b.s.layer;
      if (b.kind === 'mamba') {
        const { conv, ssm } = b;
        feeds[pastName(i, 'conv_state')] = f32(conv.data, [slots, ...b.s.conv]);
        feeds[pastName(i, 'ssm_state')] = f32(ssm.data, [slots, ...b.s.ssm]);
      } else {
        const { key, value } = b;
        const rows = b.s.kind === 'ring' ? b.s.rows : maxLength;
        feeds[pastName(i, 'key')] = f32(key.prefix(rows), [rows, slots, ...b.s.row]);
        feeds[pastName(i, 'value')] = f32(value.prefix(rows), [rows, slots, ...b.s.row]);
      }
    }
    return feeds;
  }

  /** Takes a decode step's outputs: whole new Mamba states; each slot's new K/V row at its position. */
  absorb(outputs: Feeds, positions: readonly number[]): void {
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
        if (s.kind === 'full') cache.reserve(Math.max(...positions) + 1);
        positions.forEach((p, slot) => {
          cache.write(s.kind === 'ring' ? ringRow(s, p) : p, slot, rows, slot * cache.rowSize);
        });
      }
    }
  }

  /** Copies prompt j's prefill outputs (length n, padded to seq) into `slot`. */
  placePrefill(outputs: Feeds, j: number, n: number, seq: number, slot: number): void {
    for (const b of this.layers) {
      const i = b.s.layer;
      if (b.kind === 'mamba') {
        const { conv, ssm } = b;
        conv
          .slot(slot)
          .set(dataOf(outputs, presentName(i, 'conv_state')).subarray(j * conv.perSlot, (j + 1) * conv.perSlot));
        ssm
          .slot(slot)
          .set(dataOf(outputs, presentName(i, 'ssm_state')).subarray(j * ssm.perSlot, (j + 1) * ssm.perSlot));
        continue;
      }
      const s = b.s;
      const first = s.kind === 'ring' ? Math.max(0, n - s.rows) : 0; // a ring keeps the last W - 1 positions
      for (const [tensor, cache] of [
        ['key', b.key],
        ['value', b.value],
      ] as const) {
        const rows = dataOf(outputs, presentName(i, tensor)); // [batch, seq, KV, hd]
        if (s.kind === 'full') cache.reserve(n + 1);
        for (let p = first; p < n; p++)
          cache.write(s.kind === 'ring' ? ringRow(s, p) : p, slot, rows, (j * seq + p) * cache.rowSize);
      }
    }
  }

  /** A copy of one slot's state, as the blocks of `stateBlocks(layout, length)`. */
  read(slot: number, length: number): Float32Array[] {
    return this.layers.flatMap((b) => {
      if (b.kind === 'mamba') return [b.conv.slot(slot).slice(), b.ssm.slot(slot).slice()];
      const rows = b.s.kind === 'ring' ? b.s.rows : length;
      return [b.key, b.value].map((cache) => {
        const out = new Float32Array(rows * cache.rowSize);
        for (let t = 0; t < rows; t++) out.set(cache.row(t, slot), t * cache.rowSize);
        return out;
      });
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
