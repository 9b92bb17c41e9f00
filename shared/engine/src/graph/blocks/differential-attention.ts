import type { ModelConfig } from '../../model/config.js';
import type { GraphBuilder } from '../onnx/onnx-builder.js';
import { linear, reshape, split, squeeze, transpose, unsqueeze } from '../onnx/ops.js';
import { rmsNorm } from './layer-norm.js';

/**
 * Differential attention (SAMBAY.md), shared by sliding / full / cross layers and by prefill / decode.
 * Query heads split in two stripes (even / odd heads), KV heads likewise; within a stripe query head j
 * reads kv head floor(j / G), G = H / KV. Both stripes go through one MatMul and one Softmax:
 *   P_s = softmax(q_s k_s^T / sqrt(hd) + mask)        s = 1, 2
 *   attn_s = P_s [v1 || v2]                           (2 hd features per head pair)
 *   out = RMSNorm(attn1 - lambda attn2) (1 - lambda_init), pairs interleaved back to H x hd, out_proj.
 */

/** K/V as [B, Sk, KV, hd] (prefill outputs) or [Sk, B, KV, hd] (the engine's time-major caches). */
export type KvLayout = 'batch-major' | 'time-major';
export interface KeyValues {
  k: string;
  v: string;
  layout: KvLayout;
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

/** Keys as [2, B, KV/2, 1, hd, Sk]: stripe first, ready to multiply queries [2, B, KV/2, G, Sq, hd]. */
function stripedKeys(g: GraphBuilder, kv: KeyValues, half: number, hd: number): string {
  const k5 = reshape(g, kv.k, [0, 0, half, 2, hd]); // kv head 2i + s -> [.., i, s, hd]
  const perm = kv.layout === 'batch-major' ? [3, 0, 2, 4, 1] : [3, 1, 2, 4, 0];
  return unsqueeze(g, transpose(g, k5, perm), [3]);
}

/** Values as [1, B, KV/2, 1, Sk, 2 hd]: heads 2i and 2i + 1 are adjacent, so pair i is [v1_i || v2_i]. */
function pairedValues(g: GraphBuilder, kv: KeyValues, half: number, hd: number): string {
  const v4 = reshape(g, kv.v, [0, 0, half, 2 * hd]);
  const perm = kv.layout === 'batch-major' ? [0, 2, 1, 3] : [1, 2, 0, 3];
  return unsqueeze(g, transpose(g, v4, perm), [0, 3]);
}

/**
 * q [B, Sq, H hd]; kv per `KeyValues`; mask additive, broadcastable to [B, 1, 1, Sq, Sk].
 * Returns [B, Sq, d] after out_proj.
 */
export function differentialAttention(
  g: GraphBuilder,
  p: string,
  layer: number,
  c: ModelConfig,
  q: string,
  kv: KeyValues,
  mask: string,
): string {
  const hd = c.headDim;
  const half = c.numKvHeads / 2;
  const group = c.numHeads / c.numKvHeads;
  // query head h = 2 (i G + j) + s: stripe s, kv pair i, member j
  const q6 = reshape(g, g.op1('Mul', [q, g.floats([1 / Math.sqrt(hd)], [])]), [0, 0, half, group, 2, hd]);
  const qs = transpose(g, q6, [4, 0, 2, 3, 1, 5]); // [2, B, KV/2, G, Sq, hd]
  const scores = g.op1('Add', [g.op1('MatMul', [qs, stripedKeys(g, kv, half, hd)]), mask]); // [2, B, KV/2, G, Sq, Sk]
  const probs = g.op1('Softmax', [scores], { axis: -1 });
  const attn = g.op1('MatMul', [probs, pairedValues(g, kv, half, hd)]); // [2, B, KV/2, G, Sq, 2 hd]
  const [a1, a2] = split(g, attn, [1, 1], 0).map((t) => squeeze(g, t, [0])); // [B, KV/2, G, Sq, 2 hd]
  const diff = g.op1('Sub', [a1!, g.op1('Mul', [lambda(g, p, layer), a2!])]);
  const normed = rmsNorm(g, diff, `${p}inner_cross_attn.subln.weight`, 1e-5);
  const scaled = g.op1('Mul', [normed, g.floats([1 - lambdaInit(layer)], [])]);
  const merged = reshape(g, transpose(g, scaled, [0, 3, 1, 2, 4]), [0, 0, c.hiddenSize]); // [B, Sq, d]
  return linear(g, merged, `${p}out_proj.weight`, `${p}out_proj.bias`);
}
