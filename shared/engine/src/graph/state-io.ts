import type { ModelConfig } from '../model/config.js';
import type { LayerSpec } from '../model/layer-plan.js';
import { pastName } from './io-names.js';
import type { GraphBuilder } from './onnx/onnx-builder.js';
import { dimOf, range, unsqueeze } from './onnx/ops.js';

/**
 * The state inputs shared by the decode and prefill graphs, shaped as the engine's buffers are
 * (state/batch-state.ts), so ORT reads them where they lie:
 *   Mamba `past_key_values.{i}.conv_state` [B, d_conv, Di] (time-major), `.ssm_state` [B, N, Di];
 *   attention `past_key_values.{i}.key` HEAD-MAJOR [B, KV, hd, P] and `.value` [B, KV, P, hd], P rows:
 *   W - 1 for a sliding ring, the reserved rows of a full cache (at least the longest cached sequence).
 */

export function mambaInputs(g: GraphBuilder, c: ModelConfig, layer: number) {
  const m = c.mamba;
  return {
    conv: g.input(pastName(layer, 'conv_state'), 'float32', ['batch', m.dConv, m.dInner]),
    ssm: g.input(pastName(layer, 'ssm_state'), 'float32', ['batch', m.dState, m.dInner]),
  };
}

export function cacheInputs(g: GraphBuilder, c: ModelConfig, layer: LayerSpec) {
  const rows = layer.window === null ? 'past' : layer.window - 1;
  return {
    k: g.input(pastName(layer.index, 'key'), 'float32', ['batch', c.numKvHeads, c.headDim, rows]),
    v: g.input(pastName(layer.index, 'value'), 'float32', ['batch', c.numKvHeads, rows, c.headDim]),
  };
}

/** Rows slot b has written: min(past, W - 1) for a sliding ring (it wraps), past for a full cache. */
export function cachedCount(g: GraphBuilder, layer: LayerSpec, pastLengths: string): string {
  return layer.window === null ? pastLengths : g.op1('Min', [pastLengths, g.ints([layer.window - 1], [])]);
}

/**
 * `mask` memoised per window: every sliding layer's ring has the same rows written, so the first
 * one's mask serves the rest (and a graph builds it once instead of once a layer).
 */
export function maskPerWindow(mask: (layer: LayerSpec, v: string) => string): (layer: LayerSpec, v: string) => string {
  const built = new Map<number | null, string>();
  return (layer, v) => {
    let m = built.get(layer.window);
    if (m === undefined) built.set(layer.window, (m = mask(layer, v)));
    return m;
  };
}

/** Row t of cached values v [B, KV, P, hd] holds a token of slot b: t < count[b]. -> bool [B, P]. */
export function writtenRows(g: GraphBuilder, v: string, count: string): string {
  return g.op1('Less', [unsqueeze(g, range(g, dimOf(g, v, 2)), [0]), unsqueeze(g, count, [1])]);
}
