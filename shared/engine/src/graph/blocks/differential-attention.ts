import type { ModelConfig } from '../../model/config.js';
import type { GraphBuilder } from '../onnx/onnx-builder.js';
import { dimOf, fusedMatMul, linear, reshape, reshapeDyn, split, sumLast, transpose, unsqueeze } from '../onnx/ops.js';
import { rmsNorm } from './layer-norm.js';

/**
 * Differential attention (docs/model.md#differential-attention), shared by sliding / full / cross layers
 * and by prefill / decode. Query head h = 2 (i G + j) + s: stripe s, KV pair i, member j (G = H / KV);
 * stripe s reads KV head 2i + s, so grouping queries by KV head kv = 2i + s is plain GQA:
 *   P_s = softmax(q_s k_s^T / sqrt(hd) + mask)                                 s = 1, 2
 *   attn_s = P_s [v_2i || v_2i+1]                                              (2 hd features per pair)
 *   out = RMSNorm(attn1 - lambda attn2) (1 - lambda_init), pairs interleaved back to H x hd, out_proj.
 *
 * Keys come in two parts that are never concatenated (that would copy the cache):
 *   cached: the engine's buffers as they are, HEAD-MAJOR, keys [B, KV, hd, P], values [B, KV, P, hd], read once;
 *   fresh:  this call's own rows, batch-major [B, Sf, KV, hd] (a chunk, or decode's one new row).
 * Each part gets its scores, the softmax is merged by a shared running max:
 *   m = max(max_P Sc, max_Sf Sf),  Ec = exp(Sc - m),  Ef = exp(Sf - m)
 *   attn = (Ec Vc + Ef Vf) / (sum Ec + sum Ef)
 * Queries are grouped per KV head ([B, KV, G Sq, hd]) instead of repeating keys. For values, KV head
 * t of pair i needs the probabilities of both stripes of that pair: Ec as [B, i, 1, 2 G Sq, P] times
 * the cached values as [B, i, t, P, hd], MatMul broadcasting over t (an explicit Expand of Ec was
 * 10-25 % slower).
 */

/** The engine's cache of one layer, fed as it is; mask additive, broadcastable to [B, KV, G, Sq, P]. */
export interface CachedKeys {
  k: string; // [B, KV, hd, P]
  v: string; // [B, KV, P, hd]
  mask: string;
}

/** Rows computed in this call; mask additive, broadcastable to [B, KV, G, Sq, Sf], null when all visible. */
export interface FreshKeys {
  k: string; // [B, Sf, KV, hd]
  v: string; // [B, Sf, KV, hd]
  mask: string | null;
}

/** q [B, S, H hd], k, v [B, S, KV, hd] from Wqkv(h) + bias. */
export function selfProjections(g: GraphBuilder, h: string, p: string, c: ModelConfig) {
  const kvWidth = c.numKvHeads * c.headDim;
  const qkv = linear(g, h, `${p}Wqkv.weight`, `${p}Wqkv.bias`); // [B, S, d + 2 KV hd]
  const [q, k, v] = split(g, qkv, [c.hiddenSize, kvWidth, kvWidth], -1);
  const heads = (t: string) => reshape(g, t, [0, 0, c.numKvHeads, c.headDim]);
  return { q: q!, k: heads(k!), v: heads(v!) };
}

/** Cross-attention layers project queries only. h [B, S, d] -> q [B, S, H hd]. */
export const crossProjection = (g: GraphBuilder, h: string, p: string) =>
  linear(g, h, `${p}Wqkv.weight`, `${p}Wqkv.bias`);

const lambdaInit = (layer: number) => 0.8 - 0.6 * Math.exp(-0.3 * layer);

/** lambda = exp(sum(lq1 lk1)) - exp(sum(lq2 lk2)) + lambda_init, a scalar. */
function lambda(g: GraphBuilder, p: string, layer: number): string {
  const term = (s: 1 | 2) => {
    const dot = g.op1('Mul', [
      g.param(`${p}inner_cross_attn.lambda_q${s}`),
      g.param(`${p}inner_cross_attn.lambda_k${s}`),
    ]);
    return g.op1('Exp', [g.op1('ReduceSum', [dot], { keepdims: 0 })]);
  };
  return g.op1('Add', [g.op1('Sub', [term(1), term(2)]), g.floats([lambdaInit(layer)], [])]);
}

const maxLast = (g: GraphBuilder, x: string) => g.op1('ReduceMax', [x, g.ints([-1])], { keepdims: 1 });
const masked = (g: GraphBuilder, scores: string, mask: string | null) =>
  mask === null ? scores : g.op1('Add', [scores, mask]);

interface Heads {
  kv: number;
  half: number; // KV pairs
  group: number; // G
  hd: number;
  /** One query row per KV head and group member (decode): see `cachedScores`. */
  decode: boolean;
}

/** q [B, Sq, H hd] -> [B, KV, G Sq, hd]: query head 2 (i G + j) + s goes to KV head 2i + s, row (j, Sq). */
function groupQueries(g: GraphBuilder, q: string, x: Heads): string {
  const q6 = reshape(g, q, [0, 0, x.half, x.group, 2, x.hd]); // [B, Sq, i, j, s, hd]
  return reshape(g, transpose(g, q6, [0, 2, 4, 3, 1, 5]), [0, x.kv, -1, x.hd]);
}

/**
 * Fresh keys' scores: q k^T with k as computed (rows of hd); q comes pre-scaled by 1 / sqrt(hd),
 * because FusedMatMul with alpha != 1 leaves MLAS's fast path (measured 2x slower).
 */
const SCORES = { transB: 1 } as const;

/**
 * Scores of the grouped queries qg [B, KV, G Sq, hd] over the cached keys k [B, KV, hd, P] ->
 * [B, KV, G, Sq, P]. One query row (decode, and prefill's one-token chunks, which are how models too
 * large for a second session decode) makes each of the G rows a product of its own
 * ([B, KV, G, 1, hd] x [B, KV, 1, hd, P]): MLAS streams the cache as it lies, where a G-row product
 * first repacks it (over a 32K-token cache 1.5 against 2.3 ms); the G reads of one head's keys
 * follow each other, so all but the first hit the CPU cache. Longer chunks keep one product.
 */
function cachedScores(g: GraphBuilder, qg: string, k: string, x: Heads): string {
  const perRow = (b: GraphBuilder) => b.op1('MatMul', [unsqueeze(b, qg, [3]), unsqueeze(b, k, [2])]);
  if (x.decode) return perRow(g);
  const branch = (name: string, scores: (b: GraphBuilder) => string) => {
    const b = g.subgraph(name);
    const out = scores(b);
    b.output(out, out);
    return b;
  };
  const rows = (b: GraphBuilder) => reshapeDyn(b, b.op1('MatMul', [qg, k]), [[0, 0, x.group, -1], dimOf(b, k, 3)]);
  const oneRow = g.op1('Equal', [dimOf(g, qg, 2), g.ints([x.group])]);
  return g.op1('If', [oneRow], { then_branch: branch('one_row', perRow), else_branch: branch('rows', rows) });
}

/** Scores over the fresh rows k [B, Sf, KV, hd] -> [B, KV, G, Sq, Sf]. */
function freshScores(g: GraphBuilder, qg: string, k: string, x: Heads): string {
  const product = fusedMatMul(g, qg, transpose(g, k, [0, 2, 1, 3]), SCORES); // [B, KV, G Sq, Sf]
  if (x.decode) return unsqueeze(g, product, [4]); // Sq = Sf = 1
  return reshapeDyn(g, product, [[0, 0, x.group, -1], dimOf(g, k, 1)]);
}

/**
 * Unnormalised probabilities of both key parts under one running max, and their common denominator.
 * -> ec [B, KV, G, Sq, P], ef [B, KV, G, Sq, Sf], den [B, i, 1, s, G, Sq, 1]. In decode the one
 * fresh row is its own max and sum.
 */
function mergedSoftmax(g: GraphBuilder, qg: string, cached: CachedKeys, fresh: FreshKeys, x: Heads) {
  const sc = masked(g, cachedScores(g, qg, cached.k, x), cached.mask);
  const sf = masked(g, freshScores(g, qg, fresh.k, x), fresh.mask);
  const m = g.op1('Max', [maxLast(g, sc), x.decode ? sf : maxLast(g, sf)]); // [B, KV, G, Sq, 1]
  const ec = g.op1('Exp', [g.op1('Sub', [sc, m])]);
  const ef = g.op1('Exp', [g.op1('Sub', [sf, m])]);
  const sum = g.op1('Add', [sumLast(g, ec), x.decode ? ef : sumLast(g, ef)]);
  return { ec, ef, den: reshape(g, sum, [0, x.half, 1, 2, x.group, -1, 1]) };
}

/**
 * ec Vc + ef Vf where KV head t of pair i takes both stripes' probabilities of that pair:
 * -> [B, i, t, s, G, Sq, hd].
 */
function pairedValues(g: GraphBuilder, ec: string, ef: string, cached: CachedKeys, fresh: FreshKeys, x: Heads) {
  const pairs = (e: string) => reshape(g, e, [0, x.half, 1, -1, 0]); // [B, i, 1, (s, G, Sq), Pk]
  // Both heads t of a pair read the same probabilities: MatMul broadcasts them over t, no copy.
  const cachedV = reshape(g, cached.v, [0, x.half, 2, -1, x.hd]); // [B, i, t, P, hd], the buffer as it is
  const numC = g.op1('MatMul', [pairs(ec), cachedV]); // [B, i, t, (s, G, Sq), hd]
  const freshV = transpose(g, reshape(g, fresh.v, [0, 0, x.half, 2, x.hd]), [0, 2, 3, 1, 4]); // [B, i, t, Sf, hd]
  const numF = g.op1('MatMul', [pairs(ef), freshV]); // [B, i, t, (s, G, Sq), hd]
  return reshape(g, g.op1('Add', [numC, numF]), [0, 0, 0, 2, x.group, -1, x.hd]);
}

/**
 * q [B, Sq, H hd]; cached and fresh keys as described above; `decode` when Sq = 1. Returns [B, Sq, d]
 * after out_proj.
 */
export function differentialAttention(
  g: GraphBuilder,
  p: string,
  layer: number,
  c: ModelConfig,
  q: string,
  cached: CachedKeys,
  fresh: FreshKeys,
  decode = false,
): string {
  const group = c.numHeads / c.numKvHeads;
  const x: Heads = { kv: c.numKvHeads, half: c.numKvHeads / 2, group, hd: c.headDim, decode };
  const qScaled = g.op1('Mul', [q, g.floats([1 / Math.sqrt(x.hd)], [])]);
  const { ec, ef, den } = mergedSoftmax(g, groupQueries(g, qScaled, x), cached, fresh, x);
  // attn1 - lambda attn2 = sum_s w_s num_s / den_s with w = (1, -lambda): the weights ride on the
  // small denominators, and one pass over the numerators sums the stripes.
  const w = g.op1('Concat', [g.floats([1]), g.op1('Neg', [unsqueeze(g, lambda(g, p, layer), [0])])], { axis: 0 });
  const perStripe = g.op1('Div', [reshape(g, w, [1, 1, 1, 2, 1, 1, 1]), den]); // [B, i, 1, s, G, Sq, 1]
  const num = pairedValues(g, ec, ef, cached, fresh, x); // [B, i, t, s, G, Sq, hd]
  const summed = g.op1('ReduceSum', [g.op1('Mul', [num, perStripe]), g.ints([3])], { keepdims: 0 });
  // [B, i, t, G, Sq, hd] -> [B, Sq, i, j, 2 hd]: t next to hd, so the pair's values lie [v_2i || v_2i+1]
  const diff = reshape(g, transpose(g, summed, [0, 4, 1, 3, 2, 5]), [0, 0, 0, 0, 2 * x.hd]);
  const normed = rmsNorm(g, diff, `${p}inner_cross_attn.subln.weight`, 1e-5);
  const scaled = g.op1('Mul', [normed, g.floats([1 - lambdaInit(layer)], [])]);
  return linear(g, reshape(g, scaled, [0, 0, c.hiddenSize]), `${p}out_proj.weight`, `${p}out_proj.bias`);
}
