import type { CompiledModel } from '../runtime/compiled-model.js';
import { median, timeMs } from './report.js';

/** The two models the benchmarks compare: a preset's SambaY plan, and the same preset all `full_attention`. */
export type ModelName = 'sambay' | 'transformer';

/**
 * Unmeasured steps before a point's median: a new batch's first steps grow the full caches' rows,
 * and until the process's first garbage collection after it, every step's outputs (new buffers from
 * ORT's binding; 1 MB of Mamba state at batch 16) land on fresh pages: on the CI VM the first ~30
 * steps of a batch of 16 took twice as long (docs/benchmarks.md). A worker's batch lives for many
 * steps, so the benchmark measures it after them: 40 steps, or 1 s where steps are long.
 */
export const WARM_UP = { steps: 40, ms: 1000 };

/** Median step time of `batch` sequences from `context` tokens on, in a batch of exactly that capacity. */
export async function measureStep(
  model: CompiledModel,
  state: Uint8Array,
  batch: number,
  steps: number,
): Promise<number> {
  const b = model.newBatch({ capacity: batch });
  const ids = Array.from({ length: batch }, () => b.importState(state));
  const tokens = new Map(ids.map((id) => [id, 1]));
  const warmUntil = performance.now() + WARM_UP.ms;
  for (let s = 0; s < WARM_UP.steps && (s < 2 || performance.now() < warmUntil); s++) await b.step(tokens);
  const times: number[] = [];
  for (let s = 0; s < steps; s++) times.push(await timeMs(() => b.step(tokens)));
  return median(times);
}
