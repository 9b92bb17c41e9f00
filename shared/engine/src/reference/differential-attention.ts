import { rmsNorm, softmax } from './ops.js';

/**
 * Differential attention for one query position (docs/model.md#differential-attention):
 *   stripes: q1 = even query heads, q2 = odd; k1/v1 = even KV heads, k2/v2 = odd
 *   GQA inside a stripe: stripe query head j uses stripe KV head floor(j / (H / KV))
 *   P1 = softmax(q1 k1^T / sqrt(hd)), P2 = softmax(q2 k2^T / sqrt(hd))
 *   attn1 = P1 [v1 || v2], attn2 = P2 [v1 || v2]                 [H/2, 2hd]
 *   out = RMSNorm_2hd(attn1 - lambda attn2; subln, eps 1e-5) * (1 - lambda_init)
 * and pair j becomes heads 2j (first hd features) and 2j + 1 (second hd), so the flattened
 * [H/2, 2hd] is already the [H, hd] layout out_proj expects.
 */

export interface DiffAttentionParams {
  numHeads: number; // H
  numKvHeads: number; // KV
  headDim: number; // hd
  layerIndex: number; // for lambda_init
  lambdaQ1: Float32Array; // [hd]
  lambdaK1: Float32Array; // [hd]
  lambdaQ2: Float32Array; // [hd]
  lambdaK2: Float32Array; // [hd]
  subln: Float32Array; // [2hd]
}

const SUBLN_EPS = 1e-5;

/** Deeper layers start with a larger lambda. */
export const lambdaInit = (layerIndex: number): number => 0.8 - 0.6 * Math.exp(-0.3 * layerIndex);

const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, v, i) => sum + v * b[i]!, 0);

/** lambda = exp(sum(lq1 * lk1)) - exp(sum(lq2 * lk2)) + lambda_init. */
export function diffLambda(p: DiffAttentionParams): number {
  return Math.exp(dot(p.lambdaQ1, p.lambdaK1)) - Math.exp(dot(p.lambdaQ2, p.lambdaK2)) + lambdaInit(p.layerIndex);
}

/** sum_t P[t] * v_t[head] for one head of every value; values [T][KV * hd] -> [hd]. */
function mix(probs: Float64Array, values: Float32Array[], kvHead: number, hd: number): Float64Array {
  const out = new Float64Array(hd);
  values.forEach((v, t) => {
    for (let f = 0; f < hd; f++) out[f]! += probs[t]! * v[kvHead * hd + f]!;
  });
  return out;
}

/** Softmax over the visible keys for query head `qHead` against KV head `kvHead`. */
function probabilities(q: Float32Array, qHead: number, keys: Float32Array[], kvHead: number, hd: number): Float64Array {
  const scale = 1 / Math.sqrt(hd);
  const scores = keys.map((k) => {
    let s = 0;
    for (let f = 0; f < hd; f++) s += q[qHead * hd + f]! * k[kvHead * hd + f]!;
    return s * scale;
  });
  return softmax(scores);
}

/**
 * q [H * hd] for one position over the keys/values it may see (each [KV * hd], in any order)
 * -> [H * hd], before out_proj.
 */
export function differentialAttention(
  p: DiffAttentionParams,
  q: Float32Array,
  keys: Float32Array[],
  values: Float32Array[],
): Float32Array {
  const { numHeads, numKvHeads, headDim: hd } = p;
  const group = numHeads / numKvHeads; // stripe query heads per stripe KV head
  const lambda = diffLambda(p);
  const outScale = 1 - lambdaInit(p.layerIndex);
  const out = new Float32Array(numHeads * hd);
  for (let j = 0; j < numHeads / 2; j++) {
    const g = Math.floor(j / group); // KV head within the stripe
    const [kv1, kv2] = [2 * g, 2 * g + 1]; // its even (stripe 1) and odd (stripe 2) heads
    const p1 = probabilities(q, 2 * j, keys, kv1, hd);
    const p2 = probabilities(q, 2 * j + 1, keys, kv2, hd);
    const attn1 = [...mix(p1, values, kv1, hd), ...mix(p1, values, kv2, hd)]; // [2hd]
    const attn2 = [...mix(p2, values, kv1, hd), ...mix(p2, values, kv2, hd)]; // [2hd]
    const diff = Float32Array.from(attn1, (a, f) => a - lambda * attn2[f]!);
    const normed = rmsNorm(diff, p.subln, SUBLN_EPS);
    for (let f = 0; f < 2 * hd; f++) out[j * 2 * hd + f] = normed[f]! * outScale;
  }
  return out;
}
