/**
 * Every error the project raises on purpose is a SambayError with a stable `code`,
 * so callers branch on the class or code, never on message text.
 */
export class SambayError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A config.json field that is missing, of the wrong type, or inconsistent with another. */
export class ConfigError extends SambayError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('invalid_config', `config.json: \`${field}\` ${message}`);
  }
}

export type CheckpointProblem = 'missing' | 'unexpected' | 'shape' | 'dtype' | 'format';

/** A checkpoint tensor that is missing, unexpected, of the wrong shape or dtype, or a corrupt file. */
export class CheckpointError extends SambayError {
  constructor(
    readonly problem: CheckpointProblem,
    readonly tensor: string,
    message: string,
  ) {
    super(`checkpoint_${problem}`, message);
  }
}

/** The model directory itself: a file that is absent or unreadable. */
export class ModelDirError extends SambayError {
  constructor(message: string) {
    super('invalid_model_dir', message);
  }
}
