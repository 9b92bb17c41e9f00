import type { GenerationEvent, GenerationRequest, SchedulerStats, StepTimings } from '@sambay/engine';

/** What the engine thread is started with (its `workerData`). */
export interface EngineThreadData {
  modelDir: string;
  maxSequences: number;
  /** Bytes of cached state the engine's sequences may take (scheduler admission). */
  stateBudgetBytes: number;
  executionProvider: 'cpu' | 'cuda' | 'webgpu';
  /** ORT's intra-op threads (WORKER_INTRA_OP_THREADS); unset, by the model's size (intra-op-threads.ts). */
  intraOpThreads: number | undefined;
  weights: 'f32' | 'int8' | 'int4';
  /** MODEL_COMPILE_DIR; the thread is always given a directory (compile-dir.ts). */
  compileDir: string | undefined;
  /** MODEL_WEIGHT_CACHE_DIR. */
  weightCacheDir: string | undefined;
  /** RESUME_REPLAY_MAX_MS (SchedulerOptions.maxReplayMs). */
  maxReplayMs: number;
  /** WORKER_PREFILL_CHUNK_TOKENS (SchedulerOptions.prefillChunkTokens). */
  prefillChunkTokens: number;
}

/** Main thread -> engine thread. */
export type EngineCommand =
  | { type: 'submit'; request: GenerationRequest }
  | { type: 'cancel'; id: string }
  /** Asks for the generation's `checkpoint` event (Scheduler.checkpoint). */
  | { type: 'checkpoint'; id: string };

/**
 * Engine thread -> main thread. Events are posted in batches (event-outbox.ts: a sequence's later
 * tokens every few ms, merged; the rest at once); the buffers of checkpoint states (and of a
 * submitted resumeState) are transferred, not copied.
 */
export type EngineReport =
  /** The model is loaded; with the threads it runs on (chosen by the model when not configured). */
  | { type: 'ready'; intraOpThreads: number }
  | { type: 'events'; events: GenerationEvent[] }
  /**
   * What the scheduler holds (batch size, state bytes) and how long its model calls took since the
   * last report, for metrics: at most every STATS_INTERVAL_MS while it changes.
   */
  | { type: 'stats'; stats: SchedulerStats; steps: StepTimings }
  /** The engine cannot go on (model load failed, or the scheduler threw); the thread exits after it. */
  | { type: 'fatal'; message: string };
