import { availableParallelism } from 'node:os';
import { parameterCount, type ModelSpec } from '@sambay/engine/model';

/**
 * Parameters from which a model's decode step is long: about 10 ms or more on CPU even in int4, so
 * the main thread's per-token work (events, stream writes, lock renewals) is noise beside it.
 */
const LONG_STEP_PARAMETERS = 256e6;

/**
 * ORT's intra-op threads when WORKER_INTRA_OP_THREADS is unset. A small model's steps take a
 * millisecond or two, and the main thread's work, with Redis and the API beside it, would compete
 * with ORT's spinning threads for every core: every core but one (docs/benchmarks.md#service-against-the-engine-in-process).
 * A model of LONG_STEP_PARAMETERS or more gets every core: the 8-layer Phi-4-mini-flash in int4
 * decoded 1.5x faster on both cores of a 2-core machine than on one
 * (docs/benchmarks.md#2026-11-29-where-each-step-stands-against-the-roofline).
 */
export function defaultIntraOpThreads(
  model: Pick<ModelSpec, 'config' | 'plan'>,
  cores = availableParallelism(),
): number {
  return parameterCount(model.config, model.plan) >= LONG_STEP_PARAMETERS ? cores : Math.max(1, cores - 1);
}
