import type { GraphBuilder } from '../onnx/onnx-builder.js';
import { linear, silu } from '../onnx/ops.js';

/** Gated Memory Unit: out_proj(silu(in_proj(x)) * memory). x [B, S, d], memory [B, S, d_inner] -> [B, S, d]. */
export function gmu(g: GraphBuilder, x: string, p: string, memory: string): string {
  const gate = silu(g, linear(g, x, `${p}in_proj.weight`)); // [B, S, Di]
  return linear(g, g.op1('Mul', [gate, memory]), `${p}out_proj.weight`);
}
