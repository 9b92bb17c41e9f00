import { SambayError } from '@sambay/shared/errors/sambay-error';

/** A write to a job's stream or state hash failed; the stream may have a gap. */
export class StreamWriteError extends SambayError {
  constructor(
    readonly jobId: string | null,
    message: string,
  ) {
    super('stream_write_failed', jobId ? `job ${jobId}: ${message}` : message);
  }
}

/** The engine thread could not load the model or start. */
export class EngineStartError extends SambayError {
  constructor(message: string) {
    super('engine_start_failed', message);
  }
}
