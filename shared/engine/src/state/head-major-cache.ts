/**
 * K or V rows of one attention layer for every slot, head-major: data [slots, KV, rows, hd], the
 * layout MatMul reads best: each (slot, head) is one contiguous [rows, hd] block, streamed once per
 * step (a time-major layout makes every head a strided walk across the whole buffer, page by page,
 * which measured 2-3x slower from batch 16 on). The whole buffer is the graph input as it is; rows
 * past a slot's length are masked. A full cache grows its rows when full by an eighth, at most
 * 1,024 rows (one copy, amortised O(1) per token; rows read for nothing stay under an eighth);
 * a sliding ring keeps rows = W - 1 fixed. A full cache's rows are a multiple of ROW_BLOCK: MLAS
 * computes the last columns of a q K^T product whose width is not a multiple of its 16-column
 * panels by another path, rounded differently, so a sequence's scores would depend on how many
 * rows its batch happens to reserve (a batch-mate's length); in whole panels they never do.
 */
const ROW_BLOCK = 16;

/** Rows reserved for `n`: whole blocks (see the class comment). */
export const blockRows = (n: number) => ROW_BLOCK * Math.ceil(n / ROW_BLOCK);

export class HeadMajorCache {
  private values: Float32Array;

  constructor(
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

  /** Values of one row of all heads ([KV, hd], the layout of graph outputs and exported state). */
  get rowSize(): number {
    return this.heads * this.headDim;
  }

  private offset(slot: number, head: number, t: number): number {
    return ((slot * this.heads + head) * this.rowCapacity + t) * this.headDim;
  }

  /** Writes row t of `slot` from src[srcOffset..] laid out [KV, hd]. */
  write(t: number, slot: number, src: Float32Array, srcOffset = 0): void {
    for (let h = 0; h < this.heads; h++) {
      const from = srcOffset + h * this.headDim;
      this.values.set(src.subarray(from, from + this.headDim), this.offset(slot, h, t));
    }
  }

  /** Rows 0..rows-1 of `slot` as [rows, KV, hd] (the exported state's layout). */
  read(slot: number, rows: number): Float32Array {
    const out = new Float32Array(rows * this.rowSize);
    for (let h = 0; h < this.heads; h++) {
      const block = this.values.subarray(this.offset(slot, h, 0), this.offset(slot, h, rows));
      for (let t = 0; t < rows; t++)
        out.set(block.subarray(t * this.headDim, (t + 1) * this.headDim), (t * this.heads + h) * this.headDim);
    }
    return out;
  }

  /** Zeros one slot (a ring handed to a new sequence keeps no trace of the last one). */
  clear(slot: number): void {
    this.values.fill(0, this.offset(slot, 0, 0), this.offset(slot + 1, 0, 0));
  }

  /** Copies rows 0..rows-1 of `from`'s slot `fromSlot` into `slot`: one sequence's own rows, a block per head. */
  copySlot(from: HeadMajorCache, fromSlot: number, slot: number, rows: number): void {
    for (let h = 0; h < this.heads; h++) {
      const at = from.offset(fromSlot, h, 0);
      this.values.set(from.values.subarray(at, at + rows * this.headDim), this.offset(slot, h, 0));
    }
  }

  /** Makes room for `needed` rows (growing as the class comment says). */
  reserve(needed: number): void {
    if (needed <= this.rowCapacity) return;
    const old = { values: this.values, rows: this.rowCapacity };
    this.rowCapacity = blockRows(Math.max(needed, Math.min(Math.ceil(old.rows * 1.125), old.rows + 1024)));
    this.values = new Float32Array(this.slots * this.heads * this.rowCapacity * this.headDim);
    const block = old.rows * this.headDim;
    for (let sh = 0; sh < this.slots * this.heads; sh++)
      this.values.set(old.values.subarray(sh * block, (sh + 1) * block), sh * this.rowCapacity * this.headDim);
  }
}
