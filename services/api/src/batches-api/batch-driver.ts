import { rm } from 'node:fs/promises';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { RedisClient, QueueKeys } from '@sambay/protocol';
import { BatchCollector, type CollectorDeps } from './batch-collector.js';
import { FINAL_BATCH_STATUSES, type BatchRecord, type BatchStatus } from './batch-store.js';
import { countJsonlLines } from './jsonl-reader.js';

export interface BatchDriverOptions extends CollectorDeps {
  keys: QueueKeys;
  /** For the BullMQ Queue (commands only). */
  redis: RedisClient;
  /** For the BullMQ Worker: its own connection with maxRetriesPerRequest null, as BullMQ requires. */
  workerRedis: RedisClient;
  logger: Logger;
  /** Batches one API process drives at once. @defaultValue 4 */
  concurrency?: number;
}

interface DriverJobData {
  batchId: string;
}

/** A driver that throws (Redis or disk trouble) is retried this often, backing off, before its batch fails. */
const DRIVER_ATTEMPTS = 8;
const NOT_FINAL = ['validating', 'in_progress', 'finalizing', 'cancelling'] as const satisfies readonly BatchStatus[];

/**
 * Drives Batch API batches: validating → in_progress → finalizing → completed (or cancelled,
 * expired, failed). Each batch is one BullMQ job on its own queue (QueueKeys.batchDriverQueueName),
 * processed by the API processes, so a batch outlives any one of them: when an API process stops,
 * its drivers hand their jobs back to the queue; when one dies, BullMQ's stalled-job check gives the
 * job to another (or the restarted) process. A driver that takes a batch over resumes from its
 * saved progress (batch-collector.ts), and its line jobs have derived ids, so nothing runs twice.
 */
export class BatchDriver {
  readonly queue: Queue<DriverJobData>;
  private worker: Worker<DriverJobData> | null = null;
  private stopping = false;

  constructor(private readonly options: BatchDriverOptions) {
    this.queue = new Queue(options.keys.batchDriverQueueName, {
      prefix: options.keys.bullPrefix,
      connection: options.redis,
    });
  }

  /** Queues the driver of a new batch (job id = batch id: queuing twice is a no-op). */
  async enqueue(batchId: string): Promise<void> {
    await this.queue.add(
      'drive',
      { batchId },
      {
        jobId: batchId,
        attempts: DRIVER_ATTEMPTS,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: true,
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    );
  }

  /** Starts taking driver jobs. */
  run(): void {
    const worker = new Worker<DriverJobData>(
      this.options.keys.batchDriverQueueName,
      (job, token) => this.process(job, token),
      {
        prefix: this.options.keys.bullPrefix,
        connection: this.options.workerRedis,
        concurrency: this.options.concurrency ?? 4,
        // An API restart is not the batch's fault: let a driver be taken over any number of times.
        maxStalledCount: Number.MAX_SAFE_INTEGER,
      },
    );
    worker.on('failed', (job, error) => {
      if (job && job.attemptsMade >= DRIVER_ATTEMPTS)
        void this.fail(job.data.batchId, 'batch_driver_failed', error.message);
    });
    worker.on('error', (error) => {
      this.options.logger.warn({ err: error }, 'batch driver worker error');
    });
    this.worker = worker;
  }

  /** Hands running drivers back to the queue (another API process continues them) and stops. */
  async close(): Promise<void> {
    this.stopping = true;
    await this.worker?.close();
    await this.queue.close();
  }

  private async process(job: Job<DriverJobData>, token?: string): Promise<void> {
    const outcome = await this.drive(job.data.batchId);
    if (outcome === 'handed_back') {
      // BullMQ's way to put an active job back: to the delayed set, due at once, for any worker.
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
  }

  private async drive(batchId: string): Promise<'done' | 'handed_back'> {
    const { batches } = this.options;
    let batch = await batches.get(batchId);
    if (batch?.status === 'validating') {
      await this.validate(batch);
      batch = await batches.get(batchId);
    }
    if (!batch || FINAL_BATCH_STATUSES.includes(batch.status)) return 'done';
    const result =
      batch.status === 'finalizing'
        ? 'completed'
        : await new BatchCollector(this.options, batch, () => this.stopping).run();
    if (result === 'handed_back') return 'handed_back';
    await this.finalize(batchId, result === 'batch_expired' ? 'expired' : 'completed');
    return 'done';
  }

  /** Counts the input's lines (streaming): request_counts.total. An unreadable input fails the batch. */
  private async validate(batch: BatchRecord): Promise<void> {
    const { info } = batch;
    if (!(await this.options.files.get(info.input_file_id))) {
      await this.fail(info.id, 'input_file_missing', `the input file \`${info.input_file_id}\` no longer exists`);
      return;
    }
    const total = await countJsonlLines(this.options.files.contentPath(info.input_file_id));
    const moved = await this.options.batches.transition(info.id, ['validating'], 'in_progress', { total });
    // Cancelled while validating: it stays `cancelling`, with its count, and the collector stops at once.
    if (!moved) await this.options.batches.transition(info.id, ['cancelling'], 'cancelling', { total });
  }

  /**
   * Publishes the output and error files (those with lines) and ends the batch: `completed`, or
   * `cancelled` if a cancel came in, or `expired`. Safe to run again after a crash.
   */
  private async finalize(batchId: string, ending: 'completed' | 'expired'): Promise<void> {
    const { batches, files } = this.options;
    const batch = await batches.get(batchId);
    if (!batch) return;
    const to: BatchStatus =
      ending === 'expired' ? 'expired' : batch.status === 'cancelling' ? 'cancelled' : 'completed';
    if (to === 'completed') await batches.transition(batchId, ['in_progress'], 'finalizing');
    const { info, progress } = batch;
    const publish = async (id: string, bytes: number, kind: string) => {
      if (bytes === 0) {
        await rm(files.contentPath(id), { force: true });
        return '';
      }
      const fields = { filename: `${batchId}_${kind}.jsonl`, purpose: 'batch_output', bytes } as const;
      await files.publish(id, fields, batch.owner); // the batch's key owns its output
      return id;
    };
    const output = await publish(info.output_file, progress.output_bytes, 'output');
    const errors = await publish(info.error_file, progress.error_bytes, 'error');
    await batches.transition(batchId, NOT_FINAL, to, { output_file_id: output, error_file_id: errors });
  }

  private async fail(batchId: string, code: string, message: string): Promise<void> {
    const errors = JSON.stringify([{ code, message, param: null, line: null }]);
    await this.options.batches.transition(batchId, NOT_FINAL, 'failed', { errors }).catch((error: unknown) => {
      this.options.logger.error({ err: error, batch_id: batchId }, 'marking a batch failed failed');
    });
  }
}
