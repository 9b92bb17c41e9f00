/**
 * K or V rows of one attention layer for every slot, time-major: data [rows, slots, rowSize]
 * (rowSize = kv_heads * head_dim). Row t of all slots is contiguous, so the first T rows of the
 * whole batch are one prefix of the buffer and go to ORT as a subarray, with no copy.
 * Full attention grows `rows` by doubling (amortised O(1) copy per token); a sliding ring keeps
 * rows = W - 1 fixed.
 */
export class TimeMajorCache {
  private data: Float32Array;

  constructor(
    readonly rowSize: number,
    private rowCapacity: number,
    private slotCount = 0,
  ) {
    this.data = new Float32Array(rowCapacity * slotCount * rowSize);
  }

  get rows(): number {
    return this.rowCapacity;
  }

  get slots(): number {
    return this.slotCount;
  }

  private offset(t: number, slot: number): number {
    return (t * this.slotCount + slot) * this.rowSize;
  }

  /** The first `t` rows of all slots: [t, slots, rowSize], a view. */
  prefix(t: number): Float32Array {
    return this.data.subarray(0, t * this.slotCount * this.rowSize);
  }

  row(t: number, slot: number): Float32Array {
    const at = this.offset(t, slot);
    return this.data.subarray(at, at + this.rowSize);
  }

  write(t: number, slot: number, src: Float32Array, srcOffset = 0): void {
    this.data.set(src.subarray(srcOffset, srcOffset + this.rowSize), this.offset(t, slot));
  }

  /**
   * Makes room for `needed` rows by doubling, so the copy is amortised O(1) per token. The whole old
   * buffer is copied (one contiguous set): rows past the live ones are at most half of it.
   */
  reserve(needed: number): void {
    if (needed <= this.rowCapacity) return;
    const rows = Math.max(needed, 2 * this.rowCapacity);
    const next = new Float32Array(rows * this.slotCount * this.rowSize);
    next.set(this.data);
    this.data = next;
    this.rowCapacity = rows;
  }

  /** New slot s takes old slot order[s] (-1: zeros); the first `live` rows are copied. */
  remap(order: readonly number[], live: number): void {
    const old = { data: this.data, slots: this.slotCount };
    this.slotCount = order.length;
    this.data = new Float32Array(this.rowCapacity * this.slotCount * this.rowSize);
    for (let t = 0; t < live; t++) {
      order.forEach((from, s) => {
        if (from < 0) return;
        const at = (t * old.slots + from) * this.rowSize;
        this.data.set(old.data.subarray(at, at + this.rowSize), this.offset(t, s));
      });
    }
  }
}
