import type { GenerationEvent, GenerationRequest } from '@sambay/engine';

/** What the engine thread is started with (its `workerData`). */
export interface EngineThreadData {
  modelDir: string;
  maxSequences: number;
  /** Bytes of cached state the engine's sequences may take (scheduler admission). */
  stateBudgetBytes: number;
  executionProvider: 'cpu' | 'cuda' | 'webgpu';
}

/** Main thread -> engine thread. */
export type EngineCommand = { type: 'submit'; request: GenerationRequest } | { type: 'cancel'; id: string };

/** Engine thread -> main thread. Events are posted in batches, one message per decode step. */
export type EngineReport =
  | { type: 'ready' }
  | { type: 'events'; events: GenerationEvent[] }
  /** The engine cannot go on (model load failed, or the scheduler threw); the thread exits after it. */
  | { type: 'fatal'; message: string };
