/**
 * Per-slot state of constant size (Mamba conv or SSM state): data [slots, ...perSlot], dense, so
 * the whole buffer is the graph input as it is. Each decode step replaces it with the graph's output.
 */
export class SlotStore {
  constructor(
    readonly perSlot: number,
    public data: Float32Array = new Float32Array(0),
  ) {}

  get slots(): number {
    return this.data.length / this.perSlot;
  }

  slot(s: number): Float32Array {
    return this.data.subarray(s * this.perSlot, (s + 1) * this.perSlot);
  }

  /** New slot s takes old slot order[s]; -1 starts it at zeros. */
  remap(order: readonly number[]): void {
    const next = new Float32Array(order.length * this.perSlot);
    order.forEach((old, s) => {
      if (old >= 0) next.set(this.slot(old), s * this.perSlot);
    });
    this.data = next;
  }

  replace(data: Float32Array): void {
    if (data.length !== this.data.length)
      throw new RangeError(`state of ${data.length} values replaces ${this.data.length}`);
    this.data = data;
  }
}
