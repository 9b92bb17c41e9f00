import { ServiceError } from '@sambay/protocol';

/** The engine thread could not load the model or start. */
export class EngineStartError extends ServiceError {
  constructor(message: string) {
    super('engine_start_failed', message);
  }
}

/** A generation id submitted while one with the same id runs: a bug, since ids are unique per attempt. */
export class DuplicateGenerationError extends ServiceError {
  constructor(readonly generationId: string) {
    super('duplicate_generation', `generation ${generationId} is already running`);
  }
}
