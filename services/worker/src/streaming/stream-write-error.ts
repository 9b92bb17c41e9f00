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

/** An attempt's lock on its job expired and the job moved on (another attempt may run it now). */
export class LockLostError extends ServiceError {
  constructor(readonly jobId: string) {
    super('lock_lost', `job ${jobId}: this attempt lost its lock; the job runs again elsewhere`);
  }
}
