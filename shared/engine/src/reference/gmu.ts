import type { Tensor } from '../model/tensor.js';
import { linear, silu } from './ops.js';

export interface GmuWeights {
  inProj: Tensor; // [dInner, d]
  outProj: Tensor; // [d, dInner]
}

/** Gated Memory Unit: out_proj(silu(in_proj(x)) * memory). x [d], memory [dInner] -> [d]. */
export function gmu(w: GmuWeights, x: Float32Array, memory: Float32Array): Float32Array {
  const gate = linear(w.inProj, x); // [dInner]
  const gated = gate.map((g, i) => silu(g) * memory[i]!);
  return linear(w.outProj, gated);
}
