import type { ModelConfig } from './config.js';
import type { LayerPlan } from './layer-plan.js';
import type { Weights } from './tensor.js';

/** Everything needed to run a model: validated config, its layer plan, and f32 weights. */
export interface ModelSpec {
  config: ModelConfig;
  plan: LayerPlan;
  weights: Weights;
}
