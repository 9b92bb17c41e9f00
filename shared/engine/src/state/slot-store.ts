/**
 * Per-slot state of constant size (Mamba conv or SSM state): data [slots, ...perSlot], so the whole
 * buffer is the graph input as it is. Each decode step replaces it with the graph's output.
 */
export class SlotStore {
  private values: Float32Array;

  constructor(
    readonly perSlot: number,
    slots: number,
  ) {
    this.values = new Float32Array(slots * perSlot);
  }

  get data(): Float32Array {
    return this.values;
  }

  slot(s: number): Float32Array {
    return this.values.subarray(s * this.perSlot, (s + 1) * this.perSlot);
  }

  /** Takes a whole new state (a decode step's output for every slot). */
  replace(data: Float32Array): void {
    if (data.length !== this.values.length)
      throw new RangeError(`state of ${data.length} values replaces ${this.values.length}`);
    this.values = data;
  }
}
