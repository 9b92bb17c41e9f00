import type { Tensor } from '../model/tensor.js';
import { linear, silu } from './ops.js';

export interface MlpWeights {
  fc1: Tensor; // [2 * intermediate, d]
  fc2: Tensor; // [d, intermediate]
}

/** g, u = split(fc1(x)) (gate first); fc2(u * silu(g)). x [d] -> [d]. */
export function mlp(w: MlpWeights, x: Float32Array): Float32Array {
  const gu = linear(w.fc1, x); // [2 * intermediate]
  const n = gu.length / 2;
  const hidden = new Float32Array(n);
  for (let i = 0; i < n; i++) hidden[i] = gu[n + i]! * silu(gu[i]!);
  return linear(w.fc2, hidden);
}
