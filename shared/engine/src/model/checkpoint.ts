import type { SafetensorsFile } from './safetensors.js';
import type { Tensor, WeightSource } from './tensor.js';

/**
 * A checkpoint on disk, one or more safetensors shards, seen as one WeightSource: headers are read
 * at open, tensor values only when asked for, so loading never holds the whole checkpoint (f32 of a
 * 3.8 B-parameter model is 15 GB). Tensors the layer plan has no use for are not exposed.
 */
export class CheckpointWeights implements WeightSource {
  /** The shards stay open while the model is in use (the reference reads from them too). */
  constructor(private readonly fileOf: ReadonlyMap<string, SafetensorsFile>) {}

  keys(): string[] {
    return [...this.fileOf.keys()];
  }

  get size(): number {
    return this.fileOf.size;
  }

  has(name: string): boolean {
    return this.fileOf.has(name);
  }

  get(name: string): Tensor | undefined {
    return this.fileOf.get(name)?.read(name);
  }

  /** The shards as they are on disk and the tensors taken from them (the layer plan may skip some). */
  identity(): string {
    const shards = [...new Set(this.fileOf.values())].map((f) => f.identity()).sort();
    return JSON.stringify({ shards, tensors: this.keys().sort() });
  }
}
