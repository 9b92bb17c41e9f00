import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  encodeStreamEvent,
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
  type JobStateFields,
  type JobStatus,
  type QueueKeys,
} from '@sambay/protocol';
import { buildJobView, isFinished, resolveStatus, type JobView, type QueuedJobInfo } from './job-view.js';
import { queuePosition } from './queue-position.js';

export interface JobStoreOptions {
  /** Command connection, shared with the BullMQ Queue. */
  redis: Redis;
  keys: QueueKeys;
  /** How long finished jobs keep their BullMQ record (and, via the worker, text and stream). @defaultValue RESULT_TTL_SECONDS (3600) */
  resultTtlSeconds: number;
  /** Attempts per job; a job whose worker died runs again and resumes from its stream. @defaultValue 3 */
  attempts?: number;
}

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
  private readonly redis: Redis;
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

  /**
   * Enqueues jobs atomically (one addBulk). Each job's state hash and `queued` stream event are
   * written first, so a worker that starts the job at once appends after them; if the add fails
   * they are deleted again.
   */
  async enqueue(requests: JobRequest[], batchId: string | null): Promise<string[]> {
    const submittedAt = Date.now();
    const ids = requests.map(() => newJobId());
    const pre = this.redis.multi();
    ids.forEach((id, i) => {
      const state: JobStateFields = {
        [JobStateField.status]: 'queued',
        [JobStateField.submittedAt]: String(submittedAt),
        [JobStateField.maxTokens]: String(requests[i]!.max_tokens),
        [JobStateField.metadata]: JSON.stringify(requests[i]!.metadata),
        ...(batchId ? { [JobStateField.batchId]: batchId } : {}),
      };
      pre.hset(this.keys.jobState(id), state).expire(this.keys.jobState(id), this.pendingTtl);
      pre.xadd(this.keys.jobStream(id), '*', ...encodeStreamEvent({ type: 'status', status: 'queued' }));
      pre.expire(this.keys.jobStream(id), this.pendingTtl);
    });
    if (batchId) {
      pre.hset(this.keys.batch(batchId), { created_at: String(submittedAt), job_ids: JSON.stringify(ids) });
      pre.expire(this.keys.batch(batchId), this.pendingTtl);
    }
    await pre.exec();
    const age = this.options.resultTtlSeconds;
    try {
      await this.queue.addBulk(
        ids.map((jobId, i) => ({
          name: 'generate',
          data: { request: requests[i]!, batchId, submittedAt },
          opts: {
            jobId,
            priority: toBullPriority(requests[i]!.priority),
            attempts: this.options.attempts ?? 3,
            removeOnComplete: { age },
            removeOnFail: { age },
          },
        })),
      );
    } catch (error) {
      const keys = ids.flatMap((id) => [this.keys.jobState(id), this.keys.jobStream(id)]);
      await this.redis.del(...keys, ...(batchId ? [this.keys.batch(batchId)] : [])).catch(() => undefined);
      throw error;
    }
    return ids;
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
   * Cancels a job from any API instance: the marker key covers a worker that picks the job up
   * later, the publish reaches the worker running it now. A job still waiting is removed from
   * BullMQ here and finished as cancelled, since no worker will ever write its last event.
   * Returns null for an unknown job, or the finished view for one that is already over.
   */
  async cancel(id: string): Promise<{ outcome: 'cancelling' | 'cancelled' } | { finished: JobView } | null> {
    const view = await this.getJob(id);
    if (!view) return null;
    if (isFinished(view.status)) return { finished: view };
    await this.redis
      .multi()
      .set(this.keys.jobCancelled(id), '1', 'EX', this.pendingTtl)
      .publish(this.keys.cancelChannel, id)
      .exec();
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

  /** A connection of its own for XREAD BLOCK, which holds its connection until it returns. */
  blockingConnection(): Redis {
    return this.redis.duplicate();
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
