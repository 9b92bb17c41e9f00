import { EngineError } from '../errors/engine-error.js';

/** A config.json field that is missing, of the wrong type, or inconsistent with another. */
export class ConfigError extends EngineError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('invalid_config', `config.json: \`${field}\` ${message}`);
  }
}

export type CheckpointProblem = 'missing' | 'unexpected' | 'shape' | 'dtype' | 'format';

/** A checkpoint tensor that is missing, unexpected, of the wrong shape or dtype, or a corrupt file. */
export class CheckpointError extends EngineError {
  constructor(
    readonly problem: CheckpointProblem,
    readonly tensor: string,
    message: string,
  ) {
    super(`checkpoint_${problem}`, message);
  }
}

/** The model directory itself: a file that is absent or unreadable. */
export class ModelDirError extends EngineError {
  constructor(message: string) {
    super('invalid_model_dir', message);
  }
}
