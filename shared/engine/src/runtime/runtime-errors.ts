import { EngineError } from '../errors/engine-error.js';

/** The compiled model's sessions were released; compile the model again. */
export class ModelReleasedError extends EngineError {
  constructor() {
    super('model_released', 'the compiled model was released');
  }
}
