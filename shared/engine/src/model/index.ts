/** Model directories: config.json, the layer plan, safetensors checkpoints, presets, the seeded writer. */
export { checkpointLayout, parameterCount } from './checkpoint-layout.js';
export { parseConfig, type ModelConfig } from './config.js';
export { initWeights } from './init-weights.js';
export { planLayers, type LayerPlan } from './layer-plan.js';
export { loadModelDir, type LoadedModel } from './model-dir.js';
export { CheckpointError, ConfigError, ModelDirError } from './model-errors.js';
export type { ModelSpec } from './model-spec.js';
export { presetConfig, PRESET_NAMES, transformerLayerTypes } from './presets.js';
export { readSafetensors, writeSafetensors } from './safetensors.js';
export { seededUniform } from './seeded-uniform.js';
export { tensor, type Tensor, type Weights } from './tensor.js';
export { writeModelDir, type WriteModelOptions } from './write-model-dir.js';
