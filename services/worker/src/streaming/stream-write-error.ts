import { ServiceError } from '@sambay/protocol';

/** A write to a job's stream or state hash failed; the stream may have a gap. */
export class StreamWriteError extends ServiceError {
  constructor(
    readonly jobId: string | null,
    message: string,
  ) {
    super('stream_write_failed', jobId ? `job ${jobId}: ${message}` : message);
  }
}
