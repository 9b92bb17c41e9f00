import { SambayError } from '../errors/sambay-error.js';

/** The engine's sessions were released; make a new engine. */
export class EngineReleasedError extends SambayError {
  constructor() {
    super('engine_released', 'the inference engine was released');
  }
}
