/** A dense f32 tensor in row-major order; every weight is computed in f32 whatever it was stored as. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** Checkpoint tensors by their Hugging Face names. */
export type Weights = Map<string, Tensor>;

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function tensor(shape: number[], data?: Float32Array): Tensor {
  const size = numel(shape);
  if (data && data.length !== size)
    throw new RangeError(`tensor of shape [${shape.join(', ')}] needs ${size} values, got ${data.length}`);
  return { shape, data: data ?? new Float32Array(size) };
}
