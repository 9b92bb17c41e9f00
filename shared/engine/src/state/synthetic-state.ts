import type { ModelSpec } from '../model/model-spec.js';
import { seededUniform } from '../model/seeded-uniform.js';
import { numel } from '../model/tensor.js';
import { encodeState } from './state-codec.js';
import { configFingerprint, stateBlocks, stateLayout } from './state-layout.js';

/**
 * Exported-state bytes for a sequence of `length` tokens with seeded random contents in [-0.5, 0.5).
 * For benchmarks: decode cost does not depend on the cached values, and building a 32K-token state
 * by prefill would cost far more than the measurement itself.
 */
export function syntheticState(spec: ModelSpec, length: number, seed: number): Uint8Array {
  const layout = stateLayout(spec);
  const uniform = seededUniform(seed);
  const blocks = stateBlocks(layout, length).map((b) =>
    Float32Array.from({ length: numel(b.shape) }, () => uniform() - 0.5),
  );
  return encodeState(configFingerprint(spec), layout, { length, blocks });
}
