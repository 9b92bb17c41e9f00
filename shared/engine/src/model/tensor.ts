/** A dense f32 tensor in row-major order; every weight is computed in f32 whatever it was stored as. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** Checkpoint tensors by their Hugging Face names, held in memory. */
export type Weights = Map<string, Tensor>;

/**
 * Checkpoint tensors by their Hugging Face names, wherever they are: a `Weights` map, or a
 * checkpoint on disk read one tensor per `get` (checkpoint.ts), so a model larger than memory can be
 * compiled. `get` returns f32 values; nothing is cached.
 */
export interface WeightSource {
  get(name: string): Tensor | undefined;
  keys(): Iterable<string>;
  /**
   * What the values depend on, when that is cheaper to tell than reading them (a checkpoint's files
   * and their sizes and times): equal identities promise equal tensors. Absent, nothing is cached.
   */
  identity?(): string;
}

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function tensor(shape: number[], data?: Float32Array): Tensor {
  const size = numel(shape);
  if (data && data.length !== size)
    throw new RangeError(`tensor of shape [${shape.join(', ')}] needs ${size} values, got ${data.length}`);
  return { shape, data: data ?? new Float32Array(size) };
}
