import { Job, Queue } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import {
  type RedisClient,
  finalRecord,
  isBatchId,
  isJobId,
  JobStateField,
  newJobId,
  parseJobState,
  pendingTtlSeconds,
  toBullPriority,
  writeFinalState,
  type GenerateJobData,
  type GenerateJobResult,
  type JobRequest,
  type JobStatus,
  type QueueKeys,
} from '@sambay/protocol';
import { buildJobView, isFinished, resolveStatus, type JobView, type QueuedJobInfo } from './job-view.js';
import { queuePosition } from './queue-position.js';
import { lastStreamEntry, type StreamEntry } from './stream-reader.js';
import { queueExpire, queueSubmissionWrites, type Submission } from './submission-writes.js';

export interface JobStoreOptions {
  /** Command connection, shared with the BullMQ Queue. */
  redis: RedisClient;
  keys: QueueKeys;
  /** How long finished jobs keep their BullMQ record (and, via the worker, text and stream). @defaultValue RESULT_TTL_SECONDS (3600) */
  resultTtlSeconds: number;
  /** Attempts per job; a job whose worker died runs again and resumes from its stream. @defaultValue 3 */
  attempts?: number;
}

/** Who submits, and under which ids (callers that must know the ids first: the in-flight count). */
export interface EnqueueOptions {
  /** Name of the submitting API key; null in open mode. Recorded on each job and the batch. */
  owner?: string | null;
  /** One fresh id per request (newJobId); minted here when absent. */
  ids?: string[];
}

/** What a cancel did: ended a queued job, or told its worker; else why it cannot (null: no such job). */
export type CancelOutcome =
  { outcome: 'cancelling' | 'cancelled' } | { finished: JobView } | { alreadyCancelling: true } | null;

export interface BatchView {
  id: string;
  created_at: string;
  /** Jobs in submission order, without their text (GET /v1/jobs/:id has it). `expired` jobs have outlived their TTL. */
  jobs: (Omit<JobView, 'text'> | { id: string; status: 'expired' })[];
  counts: Record<JobStatus | 'total' | 'expired', number>;
}

/** Everything the API reads and writes in Redis: the BullMQ queue plus the per-job state, stream and batch keys. */
export class JobStore {
  readonly queue: Queue<GenerateJobData, GenerateJobResult>;
  private readonly redis: RedisClient;
  private readonly keys: QueueKeys;
  private readonly pendingTtl: number;

  constructor(private readonly options: JobStoreOptions) {
    this.redis = options.redis;
    this.keys = options.keys;
    this.pendingTtl = pendingTtlSeconds(options.resultTtlSeconds);
    this.queue = new Queue(options.keys.queueName, { prefix: options.keys.bullPrefix, connection: options.redis });
  }

  /** Jobs not yet started: what MAX_QUEUE_DEPTH bounds. */
  async queueDepth(): Promise<number> {
    const counts = await this.queue.getJobCounts('wait', 'prioritized', 'delayed');
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  /** Enqueues jobs atomically, in one round trip ({@link submit}); a native batch's record goes with them. */
  async enqueue(requests: JobRequest[], batchId: string | null, options: EnqueueOptions = {}): Promise<string[]> {
    const submittedAt = Date.now();
    const owner = options.owner ?? null;
    const ids = options.ids ?? requests.map(() => newJobId());
    const batch = batchId
      ? { created_at: String(submittedAt), job_ids: JSON.stringify(ids), ...(owner ? { owner } : {}) }
      : null;
    await this.submit(
      ids.map((id, i) => ({ id, request: requests[i]! })),
      { label: batchId, submittedAt, owner },
      batch,
    );
    return ids;
  }

  /**
   * Enqueues jobs under ids the caller derived (an OpenAI batch line's jobs), skipping those that
   * exist already: BullMQ still holds them, or they ended and BullMQ dropped them. So a caller that
   * crashed part-way can submit the same ids again and no job runs twice. `label` goes where a
   * native batch id would (the jobs' `batch_id`); no native batch record is written. The jobs belong
   * to `owner` (the key that created the batch) as a submission's jobs belong to its key.
   */
  async enqueueWithIds(
    jobs: { id: string; request: JobRequest }[],
    label: string | null,
    owner: string | null,
  ): Promise<void> {
    const fresh = await this.missingJobs(jobs);
    if (fresh.length === 0) return;
    await this.submit(fresh, { label, submittedAt: Date.now(), owner }, null);
  }

  /**
   * One MULTI for a whole submission: one script writing every job's state hash and `queued` event
   * and the batch record, BullMQ's own add script for each job (its transaction is an ioredis MULTI
   * on the queue's connection, which is ours, so our commands go on it too), then one script giving
   * BullMQ's job hashes the pending TTL. One round trip instead of three, and a command per job
   * instead of six (docs/benchmarks.md, bench:queue); atomic: no worker sees a job before its keys,
   * and the `queued` event is first in its stream.
   * BullMQ's job hashes get the TTL because removeOnComplete/removeOnFail only drop a finished job,
   * and only when another one finishes after it; BullMQ's HSET/HINCRBY as the job moves keep the TTL.
   */
  private async submit(
    jobs: { id: string; request: JobRequest }[],
    submission: Submission,
    batch: Record<string, string> | null,
  ): Promise<void> {
    const transaction = (await this.queue.client).multi();
    const multi = transaction as unknown as ChainableCommander;
    const batchRecord = batch && submission.label ? { id: submission.label, fields: batch } : null;
    queueSubmissionWrites(multi, this.keys, jobs, submission, batchRecord, this.pendingTtl);
    const adds = jobs.map(({ id, request }) => {
      const { name, data, opts } = this.bullJob(id, request, submission);
      return new Job(this.queue, name, data, opts, id).addJob(transaction);
    });
    queueExpire(
      multi,
      jobs.map(({ id }) => this.keys.bullJob(id)),
      this.pendingTtl,
    );
    const replies = await transaction.exec();
    await Promise.all(adds);
    const failure =
      replies === null ? new Error('the submission was discarded (MULTI aborted)') : replies.find(([e]) => e)?.[0];
    if (!failure) return;
    // A command failed inside the MULTI: undo the rest, ours by key and BullMQ's jobs by id.
    const keys = jobs.flatMap(({ id }) => [this.keys.jobState(id), this.keys.jobStream(id)]);
    await this.redis.del(...keys, ...(batchRecord ? [this.keys.batch(batchRecord.id)] : [])).catch(() => undefined);
    await Promise.all(jobs.map(({ id }) => this.queue.remove(id).catch(() => undefined)));
    throw failure;
  }

  private async missingJobs<T extends { id: string }>(jobs: T[]): Promise<T[]> {
    const known = await Promise.all(
      jobs.map(async ({ id }) => {
        if (await this.queue.getJob(id)) return true;
        const status = await this.redis.hget(this.keys.jobState(id), JobStateField.status);
        return status !== null && isFinished(status as JobStatus);
      }),
    );
    return jobs.filter((_, i) => !known[i]);
  }

  private bullJob(jobId: string, request: JobRequest, s: Submission) {
    const age = this.options.resultTtlSeconds;
    return {
      name: 'generate',
      data: { request, batchId: s.label, submittedAt: s.submittedAt },
      opts: {
        jobId,
        priority: toBullPriority(request.priority),
        attempts: this.options.attempts ?? 3,
        removeOnComplete: { age },
        removeOnFail: { age },
      },
    };
  }

  /**
   * The poll view of a job, or null when no such job exists (or it has expired). Callers that only
   * need its status pass `withText: false` and skip reading a long generation's text.
   */
  async getJob(id: string, { withText = true } = {}): Promise<JobView | null> {
    if (!isJobId(id)) return null;
    const [hash, text, bull] = await Promise.all([
      this.redis.hgetall(this.keys.jobState(id)),
      withText ? this.redis.get(this.keys.jobText(id)) : null,
      this.bullInfo(id),
    ]);
    const state = parseJobState(hash);
    const status = resolveStatus(state, bull);
    if (status === null) return null;
    const position = status === 'queued' ? await queuePosition(this.redis, this.queue, id) : null;
    return buildJobView(id, status, state, text ?? '', bull, position, Date.now());
  }

  /**
   * Whether `getJob` would find the job, mostly in one read: a job's state hash holds its status from
   * submission until it expires, and with a status `getJob` always has a view. Only without one (a
   * BullMQ record alone) is the full view read. For the SSE route, which needs no view.
   */
  async jobExists(id: string): Promise<boolean> {
    if (!isJobId(id)) return false;
    const status = await this.redis.hget(this.keys.jobState(id), JobStateField.status);
    if (status !== null && parseJobState({ [JobStateField.status]: status }).status !== null) return true;
    return (await this.getJob(id, { withText: false })) !== null;
  }

  /** Name of the API key that submitted the job; null in open mode, or for no such job. */
  async jobOwner(id: string): Promise<string | null> {
    if (!isJobId(id)) return null;
    return this.redis.hget(this.keys.jobState(id), JobStateField.owner);
  }

  /** Name of the API key that submitted the batch; null in open mode, or for no such batch. */
  async batchOwner(id: string): Promise<string | null> {
    if (!isBatchId(id)) return null;
    return this.redis.hget(this.keys.batch(id), 'owner');
  }

  /** The last event in the job's stream (null once the stream has expired): where a reconnect can go no further. */
  async lastStreamEntry(id: string): Promise<StreamEntry | null> {
    return lastStreamEntry(this.redis, this.keys.jobStream(id));
  }

  async getBatch(id: string): Promise<BatchView | null> {
    if (!isBatchId(id)) return null;
    const hash = await this.redis.hgetall(this.keys.batch(id));
    if (!hash.job_ids) return null;
    const jobIds = JSON.parse(hash.job_ids) as string[];
    const views = await Promise.all(jobIds.map((jobId) => this.getJob(jobId, { withText: false })));
    const counts: BatchView['counts'] = {
      total: jobIds.length,
      queued: 0,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
      expired: 0,
    };
    const jobs = views.map((view, i) => {
      if (!view) {
        counts.expired += 1;
        return { id: jobIds[i]!, status: 'expired' as const };
      }
      counts[view.status] += 1;
      const { text: _text, ...summary } = view;
      return summary;
    });
    return { id, created_at: new Date(Number(hash.created_at)).toISOString(), jobs, counts };
  }

  /**
   * Cancels a job from any API instance, once: setting the marker key (SET NX) is the transition,
   * so of concurrent cancels exactly one goes on and the others get `alreadyCancelling`. The marker
   * covers a worker that picks the job up later, the publish reaches the worker running it now. A
   * job still waiting is removed from BullMQ here and finished as cancelled, since no worker will
   * ever write its last event. Returns null for an unknown job, or the finished view for one that
   * is already over.
   */
  async cancel(id: string): Promise<CancelOutcome> {
    const view = await this.getJob(id, { withText: false });
    if (!view) return null;
    if (isFinished(view.status)) return { finished: view };
    const won = await this.redis.set(this.keys.jobCancelled(id), '1', 'EX', this.pendingTtl, 'NX');
    if (won !== 'OK') return { alreadyCancelling: true };
    await this.redis.publish(this.keys.cancelChannel, id);
    // remove() refuses a locked (active) job, so a worker that took the job meanwhile keeps it and honours the publish.
    if (view.status !== 'queued' || (await this.queue.remove(id)) !== 1) return { outcome: 'cancelling' };
    await this.finishCancelled(id);
    return { outcome: 'cancelled' };
  }

  /** Ends a job cancelled while queued: no worker holds it, so no worker will write its last event. */
  private async finishCancelled(id: string): Promise<void> {
    const [hash, text] = await Promise.all([
      this.redis.hgetall(this.keys.jobState(id)),
      this.redis.get(this.keys.jobText(id)),
    ]);
    const state = parseJobState(hash);
    const now = Date.now();
    const record = finalRecord({
      status: 'cancelled',
      finishReason: 'cancelled',
      text: text ?? '',
      promptTokens: state.promptTokens ?? 0,
      generatedTokens: state.generatedTokens,
      tokensPerSecond: null,
      // A job handed back by a stopping worker was queued again after it had started.
      times: {
        submittedAt: state.submittedAt ?? now,
        startedAt: state.startedAt,
        firstTokenAt: state.firstTokenAt,
        finishedAt: now,
      },
    });
    const pipe = this.redis.multi();
    writeFinalState(pipe, this.keys, id, record, this.options.resultTtlSeconds);
    await pipe.exec();
  }

  private async bullInfo(id: string): Promise<QueuedJobInfo | null> {
    const job = await this.queue.getJob(id);
    if (!job) return null;
    const state = await job.getState();
    if (state === 'unknown') return null;
    // BullMQ types both as always set; they are undefined until the job completes or fails.
    const returnValue = job.returnvalue as GenerateJobResult | undefined;
    const failedReason = job.failedReason as string | undefined;
    return { state, data: job.data, returnValue: returnValue ?? null, failedReason: failedReason ?? null };
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
