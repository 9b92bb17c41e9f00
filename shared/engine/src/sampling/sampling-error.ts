import { EngineError } from '../errors/engine-error.js';

/**
 * A broken invariant at the sampler: parameters the API should have refused, or logits that are
 * not numbers. It signals a bug upstream, not a user error, so it names the offending value.
 */
export class SamplingInvariantError extends EngineError {
  constructor(message: string) {
    super('sampling_invariant', message);
  }
}
