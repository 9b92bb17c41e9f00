/** A configured prefix that already is a hash tag: `{name}`. */
const HASH_TAG = /^\{[^{}]+\}$/;

/**
 * Every Redis key and channel the service uses, built in one place so nobody formats keys by
 * hand. All share the configured prefix, so two deployments (or two test runs) never collide.
 *
 * The prefix is a Redis Cluster hash tag, `{sambay}`: every key of a deployment hashes to one slot.
 * BullMQ needs that of its queue's keys, and this service's scripts and MULTIs mix them with its
 * own: the fenced writes read BullMQ's lock key beside a job's state, stream and text, a
 * submission adds BullMQ jobs beside their state hashes, the shared SSE reader names every
 * followed stream in one XREAD. On a single Redis the braces are just characters.
 */
export class QueueKeys {
  /** `{name}` for a configured `name` (or `{name}` given as it is). */
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = HASH_TAG.test(prefix) ? prefix : `{${prefix}}`;
  }

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

  /**
   * BullMQ's lock of an active job (its format is BullMQ's: `{bullPrefix}:{queue}:{jobId}:lock`),
   * holding the token of the attempt that runs it. Every write of a running job checks it, so an
   * attempt whose worker was given up for dead (its lock expired and the job moved on) cannot write
   * after the next attempt started: the stream never gets a token twice.
   */
  jobLock(jobId: string): string {
    return `${this.bullPrefix}:${this.queueName}:${jobId}:lock`;
  }

  /**
   * Hash of a running job's last state checkpoint (`tokens`: generated tokens it covers, `state`:
   * the engine's exported bytes), so a resumed attempt skips re-prefilling them. Lives as long as
   * the job's other unfinished keys and is deleted with its last event.
   */
  jobCheckpoint(jobId: string): string {
    return `${this.prefix}:job:${jobId}:checkpoint`;
  }

  /**
   * BullMQ's hash of a job (its format is BullMQ's: `{bullPrefix}:{queue}:{jobId}`), holding the
   * whole request. The API gives it the pending TTL when it enqueues, so a job that never finishes
   * cannot keep its request in Redis forever.
   */
  bullJob(jobId: string): string {
    return `${this.bullPrefix}:${this.queueName}:${jobId}`;
  }

  /**
   * Set once a job is cancelled, so a worker that picks it up later still sees it. Written with
   * SET NX: the one cancel request that sets it is the one that ends the job.
   */
  jobCancelled(jobId: string): string {
    return `${this.prefix}:job:${jobId}:cancelled`;
  }

  /** Hash of a batch: its job ids in order and creation time. */
  batch(batchId: string): string {
    return `${this.prefix}:batch:${batchId}`;
  }

  /**
   * Hash of a streamed OpenAI completion: its job ids, object type, model and creation time, so a
   * client that reconnects with Last-Event-ID continues the same jobs; `attached` counts its open streams.
   */
  openaiCompletion(completionId: string): string {
    return `${this.prefix}:openai:completion:${completionId}`;
  }

  /** Hash of an OpenAI Batch API batch: its status, timestamps, counts and the driver's progress. */
  openaiBatch(batchId: string): string {
    return `${this.prefix}:openai:batch:${batchId}`;
  }

  /** Sorted set of OpenAI batch ids by creation time (ms): GET /v1/batches pages through it. */
  get openaiBatches(): string {
    return `${this.prefix}:openai:batches`;
  }

  /** BullMQ queue of batch drivers: one job per OpenAI batch, run by the API processes. */
  readonly batchDriverQueueName = 'openai-batch';

  /**
   * The first answer to a POST /v1/jobs that carried `Idempotency-Key` (or a pending marker while it
   * is being made), so a retry gets that answer instead of a second enqueue. Scoped by the API key
   * that sent it (`-` in open mode), as Stripe scopes keys per account; `keyDigest` is the SHA-256 of
   * the client's key, so any header value makes a short, safe key name.
   */
  idempotency(owner: string | null, keyDigest: string): string {
    return `${this.prefix}:idempotency:${owner ?? '-'}:${keyDigest}`;
  }

  /** Requests an API key made in one fixed minute window (`window`: ms since epoch / 60000); what its per-minute limit counts. */
  requestWindow(owner: string, window: number): string {
    return `${this.prefix}:ratelimit:${owner}:${window}`;
  }

  /**
   * Sorted set of an API key's jobs that may still be queued or running (score: submission time),
   * pruned by the jobs' status before each submission: counting live jobs cannot drift the way a
   * counter decremented by whoever ends a job could.
   */
  jobsInFlight(owner: string): string {
    return `${this.prefix}:inflight:${owner}`;
  }

  /**
   * Stream an API process's shared SSE reader includes in its blocking XREAD so that it can be woken
   * when a follower joins mid-read (an XADD here ends the wait); one per reader, trimmed to one entry.
   */
  sseWakeUp(readerId: string): string {
    return `${this.prefix}:sse:wake:${readerId}`;
  }

  /**
   * Pub/sub channel on which any API instance tells every worker to cancel a job. The message is
   * the bare job id; a worker that does not hold that job ignores it (docs/protocol.md#cancel).
   */
  get cancelChannel(): string {
    return `${this.prefix}:cancel`;
  }
}
