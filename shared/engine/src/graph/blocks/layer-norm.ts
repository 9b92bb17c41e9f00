import type { GraphBuilder } from '../onnx/onnx-builder.js';

/** LayerNorm over the last axis with weight and bias (`{prefix}.weight`, `{prefix}.bias`). */
export function layerNorm(g: GraphBuilder, x: string, prefix: string, eps: number): string {
  return g.op1('LayerNormalization', [x, g.param(`${prefix}.weight`), g.param(`${prefix}.bias`)], {
    axis: -1,
    epsilon: { f: eps },
  });
}

/** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(g: GraphBuilder, x: string, weight: string, eps: number): string {
  const meanSquare = g.op1('ReduceMean', [g.op1('Mul', [x, x]), g.ints([-1])], { keepdims: 1 });
  const inv = g.op1('Reciprocal', [g.op1('Sqrt', [g.op1('Add', [meanSquare, g.floats([eps], [])])])]);
  return g.op1('Mul', [g.op1('Mul', [x, inv]), g.param(weight)]);
}
