import { EngineError } from '../errors/engine-error.js';

/** A prompt with no tokens: there is no last token to produce logits for. */
export class EmptyPromptError extends EngineError {
  constructor(readonly promptIndex: number) {
    super('empty_prompt', `prompt ${promptIndex} has no tokens`);
  }
}

/** A sequence id that this batch does not hold (never added, or already removed). */
export class UnknownSequenceError extends EngineError {
  constructor(readonly sequenceId: number) {
    super('unknown_sequence', `sequence ${sequenceId} is not in this batch`);
  }
}

/** A decode step must get exactly one token for every active sequence. */
export class StepTokensError extends EngineError {
  constructor(message: string) {
    super('invalid_step_tokens', message);
  }
}

/** Two calls on one batch overlapped; the batch's buffers are not safe to share between them. */
export class BatchBusyError extends EngineError {
  constructor(operation: string) {
    super('batch_busy', `${operation} called while another operation on this batch is running`);
  }
}

/** Exported state bytes that are not a state this code wrote (bad magic, version or layout). */
export class StateFormatError extends EngineError {
  constructor(message: string) {
    super('invalid_state', message);
  }
}

/** Exported state from a model with a different configuration. */
export class StateConfigMismatchError extends EngineError {
  constructor(
    readonly expected: string,
    readonly found: string,
  ) {
    super(
      'state_config_mismatch',
      `state was exported from a model with config fingerprint ${found}, this engine's is ${expected}`,
    );
  }
}

/** A token id outside the model's vocabulary. */
export class InvalidTokenError extends EngineError {
  constructor(message: string) {
    super('invalid_token', message);
  }
}
