import type { GenerationEvent, GenerationRequest } from '@sambay/engine';

export type EngineListener = (event: GenerationEvent) => void;

/** What the processor needs of the engine; EngineClient runs it on a worker thread. */
export interface GenerationEngine {
  /** Starts a generation; `listener` gets its events, ending with `finished` or `failed`. */
  submit(request: GenerationRequest, listener: EngineListener): void;
  /** Stops a generation at the next step boundary; it ends with `finished`, reason `cancelled`. */
  cancel(id: string): void;
  /**
   * Asks for a `checkpoint` event of a running generation (its exported state and the generated
   * tokens it covers), delivered after the `tokens` event it covers. Optional: without it, no checkpoints.
   */
  checkpoint?(id: string): void;
}
