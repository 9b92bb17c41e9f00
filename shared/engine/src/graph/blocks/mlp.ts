import type { GraphBuilder } from '../onnx/onnx-builder.js';
import { linear, silu, split } from '../onnx/ops.js';

/** MLP: g, u = split(fc1(x)) (gate first); fc2(u * silu(g)). x [..., d] -> [..., d]. */
export function mlp(g: GraphBuilder, x: string, prefix: string, intermediate: number): string {
  const [gate, up] = split(g, linear(g, x, `${prefix}.fc1.weight`), [intermediate, intermediate], -1); // [..., I] each
  return linear(g, g.op1('Mul', [up!, silu(g, gate!)]), `${prefix}.fc2.weight`);
}
