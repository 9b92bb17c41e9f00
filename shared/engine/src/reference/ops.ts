import { CheckpointError } from '../model/model-errors.js';
import type { Tensor, WeightSource } from '../model/tensor.js';

/**
 * The few numeric primitives the reference forward pass is written in. Plain loops over
 * Float32Array with double-precision accumulators, so the oracle is at least as accurate as the
 * f32 graphs it checks.
 */

/** y = W x (+ b); W [out, in] row-major, x [in] -> y [out]. */
export function linear(w: Tensor, x: Float32Array, b?: Tensor): Float32Array {
  const [rows, cols] = [w.shape[0]!, w.data.length / w.shape[0]!];
  if (x.length !== cols)
    throw new RangeError(`linear: weight [${w.shape.join(', ')}] applied to a vector of ${x.length}`);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = b ? b.data[r]! : 0;
    const row = r * cols;
    for (let c = 0; c < cols; c++) sum += w.data[row + c]! * x[c]!;
    y[r] = sum;
  }
  return y;
}

/** (x - mean) / sqrt(var + eps) * weight + bias; biased variance, as torch's LayerNorm. */
export function layerNorm(x: Float32Array, weight: Tensor, bias: Tensor, eps: number): Float32Array {
  const n = x.length;
  let mean = 0;
  for (const v of x) mean += v;
  mean /= n;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2;
  variance /= n;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * weight.data[i]! + bias.data[i]!);
}

/** x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(x: Float32Array, weight: Tensor | Float32Array, eps: number): Float32Array {
  const w = weight instanceof Float32Array ? weight : weight.data;
  let meanSquare = 0;
  for (const v of x) meanSquare += v * v;
  meanSquare /= x.length;
  const inv = 1 / Math.sqrt(meanSquare + eps);
  return x.map((v, i) => v * inv * w[i]!);
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export const silu = (x: number): number => x * sigmoid(x);

/** log(1 + e^x), linear above 20 as torch's softplus (where the two agree to f32 anyway). */
export const softplus = (x: number): number => (x > 20 ? x : Math.log1p(Math.exp(x)));

/** Numerically stable softmax over a score vector. */
export function softmax(scores: Float32Array | Float64Array | readonly number[]): Float64Array {
  let max = -Infinity;
  for (const score of scores) max = Math.max(max, score);
  const p = new Float64Array(scores.length);
  let total = 0;
  for (let i = 0; i < scores.length; i++) total += p[i] = Math.exp(scores[i]! - max);
  for (let i = 0; i < p.length; i++) p[i]! /= total;
  return p;
}

/** Element-wise a + b (new array). */
export function add(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((v, i) => v + b[i]!);
}

/** A checkpoint tensor by name; a typed error when the spec lacks it. */
export function weight(weights: WeightSource, name: string): Tensor {
  const t = weights.get(name);
  if (!t) throw new CheckpointError('missing', name, `reference forward: tensor \`${name}\` is missing`);
  return t;
}
