/**
 * @sambay/engine: a SambaY model compiled to ONNX and run by onnxruntime, with continuous batching.
 * The worker needs only `loadScheduler` and the request/event types; the rest is public for the
 * CLI, the benchmarks and the tests. Model files, tokenizers and the reference forward pass have
 * entry points of their own (`@sambay/engine/model`, `/tokenizer`, `/reference`).
 */
export { EngineError } from './errors/engine-error.js';
export type {
  FinishReason,
  GenerationEvent,
  GenerationRequest,
  ResumedFrom,
  ResumeState,
} from './generation/generation-request.js';
export { loadScheduler, startScheduler } from './generation/load-scheduler.js';
export { prefillGroups } from './generation/prefill-groups.js';
export { Scheduler, type SchedulerOptions, type SchedulerStats } from './generation/scheduler.js';
export type { StepTimings } from './generation/step-timings.js';
export { StopCriteria, type StopStatus } from './generation/stop-criteria.js';
export { CompiledModel, type RuntimeOptions } from './runtime/compiled-model.js';
export { processAlive } from './runtime/process-alive.js';
export { uniformAt } from './sampling/rng.js';
export { sampleToken } from './sampling/sampler.js';
export { SamplingInvariantError } from './sampling/sampling-error.js';
export type { SamplingParams } from './sampling/sampling-params.js';
export type { BatchOptions, SequenceBatch } from './state/sequence-batch.js';
export { EmptyPromptError, StateConfigMismatchError, StateFormatError, StepTokensError } from './state/state-errors.js';
export { stateBlocks, stateByteSize, stateLayout } from './state/state-layout.js';
export { dequantize, quantizeBlockwise, type QuantizedWeight, type WeightBits } from './graph/weights/quantize.js';
export { WEIGHT_MODES, type WeightMode } from './graph/weights/weight-file.js';
