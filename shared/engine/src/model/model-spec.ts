import type { ModelConfig } from './config.js';
import type { LayerPlan } from './layer-plan.js';
import type { WeightSource } from './tensor.js';

/** Everything needed to run a model: validated config, its layer plan, and its weights (in memory or on disk). */
export interface ModelSpec {
  config: ModelConfig;
  plan: LayerPlan;
  weights: WeightSource;
}
