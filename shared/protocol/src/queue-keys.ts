/**
 * Every Redis key and channel the service uses, built in one place so nobody formats keys by
 * hand. All share the configured prefix, so two deployments (or two test runs) never collide.
 */
export class QueueKeys {
  constructor(readonly prefix: string) {}

  /** BullMQ queue name; BullMQ's own keys live under `{prefix}:bull:`. */
  readonly queueName = 'generate';

  get bullPrefix(): string {
    return `${this.prefix}:bull`;
  }

  /** Redis Stream of a job's events (tokens, status, progress, done); entry ids are SSE ids. */
  jobStream(jobId: string): string {
    return `${this.prefix}:job:${jobId}:stream`;
  }

  /**
   * The text generated so far, grown with APPEND: rewriting a long generation's whole text into a
   * hash field on every flush would make streaming quadratic in its length.
   */
  jobText(jobId: string): string {
    return `${this.prefix}:job:${jobId}:text`;
  }

  /** Hash of a job's live state that polling reads without replaying the stream. */
  jobState(jobId: string): string {
    return `${this.prefix}:job:${jobId}:state`;
  }

  /** Set once a job is cancelled, so a worker that picks it up later still sees it. */
  jobCancelled(jobId: string): string {
    return `${this.prefix}:job:${jobId}:cancelled`;
  }

  /** Hash of a batch: its job ids in order and creation time. */
  batch(batchId: string): string {
    return `${this.prefix}:batch:${batchId}`;
  }

  /**
   * Pub/sub channel on which any API instance tells every worker to cancel a job. The message is
   * the bare job id; a worker that does not hold that job ignores it (docs/protocol.md).
   */
  get cancelChannel(): string {
    return `${this.prefix}:cancel`;
  }
}
