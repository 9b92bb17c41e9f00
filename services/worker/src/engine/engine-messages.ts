import type { GenerationEvent, GenerationRequest } from '@sambay/shared/generation/generation-request';

/** What the engine thread is started with (its `workerData`). */
export interface EngineThreadData {
  modelDir: string;
  maxSequences: number;
  executionProvider: 'cpu' | 'cuda' | 'webgpu';
}

/** Main thread -> engine thread. */
export type EngineCommand =
  | { type: 'submit'; request: GenerationRequest }
  | { type: 'cancel'; id: string }
  /** Finish what was submitted, then report `closed`. */
  | { type: 'close' };

/** Engine thread -> main thread. Events are posted in batches, one message per decode step. */
export type EngineReport =
  | { type: 'ready' }
  | { type: 'events'; events: GenerationEvent[] }
  /** The engine cannot go on (model load failed, or the scheduler threw); the thread exits after it. */
  | { type: 'fatal'; message: string }
  | { type: 'closed' };
