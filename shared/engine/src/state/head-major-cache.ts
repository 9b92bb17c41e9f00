/**
 * K or V rows of one attention layer for every slot, head-major: each (slot, head) is one
 * contiguous block, streamed once per step (a time-major layout makes every head a strided walk
 * across the whole buffer, page by page, which measured 2-3x slower from batch 16 on). Inside a
 * block, values lie as rows [rows, hd] and keys as features [hd, rows]: decode's scores are then
 * one query row times [hd, rows], which MLAS runs as a row of multiply-adds over whole cache lines,
 * where keys as rows make it a short dot product per cached row (over a 32K-token cache 1.5 against
 * 2.3 ms a layer; docs/benchmarks.md). The whole buffer is the graph input as it is; rows past a
 * slot's length are masked. A full cache grows its rows when full by an eighth, at most 1,024 rows
 * (one copy, amortised O(1) per token; rows read for nothing stay under an eighth); a sliding ring
 * keeps rows = W - 1 fixed. A full cache's rows are a multiple of ROW_BLOCK: MLAS computes the last
 * columns of a q K^T product whose width is not a multiple of its 16-column panels by another path,
 * rounded differently, so a sequence's scores would depend on how many rows its batch happens to
 * reserve (a batch-mate's length); in whole panels they never do.
 */
const ROW_BLOCK = 16;

/** Rows reserved for `n`: whole blocks (see the class comment). */
export const blockRows = (n: number) => ROW_BLOCK * Math.ceil(n / ROW_BLOCK);

/** How a (slot, head) block lies: `rows` [rows, hd] (values), `features` [hd, rows] (keys). */
export type BlockLayout = 'rows' | 'features';

/** The first `rows` rows of a block as `count` runs of `length` values, `stride` apart. */
interface Runs {
  count: number;
  length: number;
  stride: number;
}

export class HeadMajorCache {
  private values: Float32Array;

  constructor(
    readonly layout: BlockLayout,
    readonly heads: number,
    readonly headDim: number,
    private rowCapacity: number,
    readonly slots: number,
  ) {
    this.values = new Float32Array(slots * heads * rowCapacity * headDim);
  }

  get rows(): number {
    return this.rowCapacity;
  }

  get data(): Float32Array {
    return this.values;
  }

  /** The buffer's shape as a graph input: [slots, KV, rows, hd] or [slots, KV, hd, rows]. */
  get dims(): number[] {
    const block = this.layout === 'rows' ? [this.rowCapacity, this.headDim] : [this.headDim, this.rowCapacity];
    return [this.slots, this.heads, ...block];
  }

  /** Values of one row of all heads ([KV, hd], the layout of graph outputs and exported state). */
  get rowSize(): number {
    return this.heads * this.headDim;
  }

  private block(slot: number, head: number): number {
    return (slot * this.heads + head) * this.rowCapacity * this.headDim;
  }

  /** Distance between features f and f + 1 of one row, and between rows t and t + 1. */
  private get strides(): { feature: number; row: number } {
    return this.layout === 'rows' ? { feature: 1, row: this.headDim } : { feature: this.rowCapacity, row: 1 };
  }

  private runs(rows: number): Runs {
    return this.layout === 'rows'
      ? { count: 1, length: rows * this.headDim, stride: 0 }
      : { count: this.headDim, length: rows, stride: this.rowCapacity };
  }

  /** Writes row t of `slot` from src[srcOffset..] laid out [KV, hd]. */
  write(t: number, slot: number, src: Float32Array, srcOffset = 0): void {
    const { feature, row } = this.strides;
    for (let h = 0; h < this.heads; h++) {
      const from = srcOffset + h * this.headDim;
      const at = this.block(slot, h) + t * row;
      if (feature === 1) this.values.set(src.subarray(from, from + this.headDim), at);
      else for (let f = 0; f < this.headDim; f++) this.values[at + f * feature] = src[from + f]!;
    }
  }

  /** Rows 0..rows-1 of `slot` as [rows, KV, hd] (the exported state's layout). */
  read(slot: number, rows: number): Float32Array {
    const out = new Float32Array(rows * this.rowSize);
    const { feature, row } = this.strides;
    for (let h = 0; h < this.heads; h++) {
      const at = this.block(slot, h);
      for (let t = 0; t < rows; t++)
        for (let f = 0; f < this.headDim; f++)
          out[(t * this.heads + h) * this.headDim + f] = this.values[at + t * row + f * feature]!;
    }
    return out;
  }

  /** Zeros one slot (a ring handed to a new sequence keeps no trace of the last one). */
  clear(slot: number): void {
    this.values.fill(0, this.block(slot, 0), this.block(slot + 1, 0));
  }

  /** Copies rows 0..rows-1 of `from`'s slot `fromSlot` into `slot`: one sequence's own rows. */
  copySlot(from: HeadMajorCache, fromSlot: number, slot: number, rows: number): void {
    for (let h = 0; h < this.heads; h++) copyRuns(from.region(fromSlot, h, rows), this.region(slot, h, rows));
  }

  /** Rows 0..rows-1 of one (slot, head) block. */
  private region(slot: number, head: number, rows: number): Region {
    return { values: this.values, at: this.block(slot, head), runs: this.runs(rows) };
  }

  /** Makes room for `needed` rows (growing as the class comment says). */
  reserve(needed: number): void {
    const rows = this.rowCapacity;
    if (needed <= rows) return;
    const blocks = Array.from({ length: this.slots * this.heads }, (_, i) => ({
      slot: Math.floor(i / this.heads),
      head: i % this.heads,
    }));
    const before = blocks.map(({ slot, head }) => this.region(slot, head, rows)); // at the old capacity
    this.rowCapacity = blockRows(Math.max(needed, Math.min(Math.ceil(rows * 1.125), rows + 1024)));
    this.values = new Float32Array(this.slots * this.heads * this.rowCapacity * this.headDim);
    blocks.forEach(({ slot, head }, i) => {
      copyRuns(before[i]!, this.region(slot, head, rows));
    });
  }
}

/** Where rows lie: `runs` from `at` in `values`. */
interface Region {
  values: Float32Array;
  at: number;
  runs: Runs;
}

/** Copies one region's values into another of the same shape (runs may lie apart differently). */
function copyRuns(from: Region, to: Region): void {
  for (let r = 0; r < from.runs.count; r++) {
    const s = from.at + r * from.runs.stride;
    to.values.set(from.values.subarray(s, s + from.runs.length), to.at + r * to.runs.stride);
  }
}
