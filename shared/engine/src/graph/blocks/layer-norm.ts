import type { GraphBuilder } from '../onnx/onnx-builder.js';

/** LayerNorm over the last axis with weight and bias (`{prefix}.weight`, `{prefix}.bias`). */
export function layerNorm(g: GraphBuilder, x: string, prefix: string, eps: number): string {
  return g.op1('LayerNormalization', [x, g.param(`${prefix}.weight`), g.param(`${prefix}.bias`)], {
    axis: -1,
    epsilon: { f: eps },
  });
}

/**
 * RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight, as ORT's one-kernel
 * SimplifiedLayerNormalization (a contrib op in the ONNX domain) rather than seven elementwise ones.
 */
export function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number): string {
  return g.op1('SimplifiedLayerNormalization', [x, g.param(weight)], { axis: -1, epsilon: { f: eps } });
}
