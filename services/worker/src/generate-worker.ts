import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'bullmq';
import type { Logger } from 'pino';
import {
  createRedisConnection,
  type GenerateJobData,
  type GenerateJobResult,
  pendingTtlSeconds,
  QueueKeys,
  type RedisClient,
  type ServiceConfig,
} from '@sambay/protocol';
import { CancelListener } from './cancellation/cancel-listener.js';
import { EngineClient } from './engine/engine-client.js';
import { WorkerMetrics } from './metrics/worker-metrics.js';
import { ActiveJobs } from './processor/active-jobs.js';
import { recordFailure } from './processor/failed-job.js';
import { createGenerateProcessor } from './processor/generate-processor.js';
import { jobLogger } from './processor/job-logger.js';
import { TokenStreamWriter } from './streaming/token-stream-writer.js';
import { WORKER_ID } from './worker-id.js';

/** How long handed-back jobs get to write their last tokens and return to the queue. */
const HAND_BACK_MS = 3_000;
/** How long the last flush and unsubscribe may wait on Redis before the connections are dropped. */
const CLOSE_MS = 1_000;

/** Whether `promise` settled within `ms`; it is left running (or hanging, on a dead Redis) otherwise. */
const settlesWithin = (promise: Promise<unknown>, ms: number): Promise<boolean> =>
  Promise.race([promise.then(() => true), sleep(ms).then(() => false)]);

/**
 * One worker process: the engine thread, a BullMQ worker feeding it jobs, the stream writer and the
 * cancel listener. Three Redis connections: commands, the subscriber, and BullMQ's own.
 */
export class GenerateWorker {
  private shuttingDown: Promise<void> | null = null;

  private constructor(
    private readonly bull: Worker<GenerateJobData, GenerateJobResult>,
    private readonly engine: EngineClient,
    private readonly writer: TokenStreamWriter,
    private readonly cancels: CancelListener,
    private readonly activeJobs: ActiveJobs,
    private readonly connections: RedisClient[],
    private readonly logger: Logger,
    /** Its Prometheus series (served on METRICS_PORT by main.ts). */
    readonly metrics: WorkerMetrics,
  ) {}

  static async start(config: ServiceConfig, logger: Logger): Promise<GenerateWorker> {
    const keys = new QueueKeys(config.QUEUE_PREFIX);
    // The engine first: a worker that cannot load its model must not take jobs.
    const engine = await EngineClient.start({
      modelDir: config.MODEL_DIR,
      maxSequences: config.WORKER_MAX_SEQUENCES,
      stateBudgetBytes: config.WORKER_STATE_BUDGET_BYTES,
      executionProvider: config.EXECUTION_PROVIDER,
      intraOpThreads: config.WORKER_INTRA_OP_THREADS,
      weights: config.MODEL_WEIGHTS,
      compileDir: config.MODEL_COMPILE_DIR,
      weightCacheDir: config.MODEL_WEIGHT_CACHE_DIR,
      maxReplayMs: config.RESUME_REPLAY_MAX_MS,
      prefillChunkTokens: config.WORKER_PREFILL_CHUNK_TOKENS,
    });
    const connect = () => createRedisConnection(config.REDIS_URL, { waitForever: true });
    const [redis, subscriber, bullConnection] = [connect(), connect(), connect()];
    const writer = new TokenStreamWriter({
      redis,
      keys,
      flushMs: config.STREAM_FLUSH_MS,
      ttlSeconds: config.RESULT_TTL_SECONDS,
      pendingTtlSeconds: pendingTtlSeconds(config.RESULT_TTL_SECONDS),
    });
    const activeJobs = new ActiveJobs();
    const metrics = new WorkerMetrics({ engineStats: () => engine.stats, activeJobs: () => activeJobs.size });
    engine.onStepTimings((steps) => {
      metrics.observeSteps(steps);
    });
    // A job this process holds logs the cancel itself (job-run.ts), with its jobId and batchId.
    const cancels = new CancelListener({ subscriber, keys, onCancel: (jobId) => activeJobs.cancel(jobId) });
    await cancels.start();
    const checkpoints = {
      everyTokens: config.CHECKPOINT_EVERY_TOKENS,
      everyMs: config.CHECKPOINT_EVERY_MS,
      maxBytes: config.CHECKPOINT_MAX_BYTES,
    };
    const processor = createGenerateProcessor({
      redis,
      keys,
      engine,
      writer,
      activeJobs,
      logger,
      metrics,
      checkpoints,
    });
    const bull = new Worker<GenerateJobData, GenerateJobResult>(keys.queueName, processor, {
      prefix: keys.bullPrefix,
      connection: bullConnection,
      concurrency: config.WORKER_MAX_SEQUENCES,
      // Stored on each job it takes (BullMQ's `processedBy`): which process holds a job.
      name: WORKER_ID,
      // A killed worker's jobs move back to the queue once their lock expires and a stalled check
      // sees it (service-config.ts JOB_LOCK_MS); renewing 4 times per lock survives short Redis outages.
      lockDuration: config.JOB_LOCK_MS,
      lockRenewTime: config.JOB_LOCK_MS / 4,
      stalledInterval: config.STALLED_CHECK_MS,
      maxStalledCount: config.WORKER_DEATHS_LIMIT,
      // The job's stream and state hash expire after the TTL; its BullMQ record goes with them.
      removeOnComplete: { age: config.RESULT_TTL_SECONDS },
      removeOnFail: { age: config.RESULT_TTL_SECONDS },
    });
    const worker = new GenerateWorker(
      bull,
      engine,
      writer,
      cancels,
      activeJobs,
      [redis, subscriber, bullConnection],
      logger,
      metrics,
    );
    bull.on('failed', (job, error) => {
      const log = jobLogger(logger, job ?? {});
      log.warn({ err: error }, 'job failed');
      // finishedOn is set only when BullMQ gives up on the job, not when it retries it.
      if (job?.id === undefined || job.finishedOn === undefined) return;
      metrics.jobFailed();
      recordFailure(redis, keys, config.RESULT_TTL_SECONDS, job.id, error.message).catch((writeError: unknown) => {
        log.error({ err: writeError }, 'could not record the job failure');
      });
    });
    // The lock expired (Redis was away too long): the job may already run elsewhere.
    // A job this process holds logs it (job-run.ts), with its jobId and batchId.
    bull.on('lockRenewalFailed', (jobIds) => {
      for (const jobId of jobIds) activeJobs.abandon(jobId);
    });
    bull.on('error', (error) => {
      logger.error({ err: error }, 'worker error');
    });
    await bull.waitUntilReady();
    void engine.stopped.then((reason) => {
      worker.onEngineStopped(reason);
    });
    logger.info(
      {
        queue: keys.queueName,
        prefix: keys.prefix,
        concurrency: config.WORKER_MAX_SEQUENCES,
        intraOpThreads: engine.intraOpThreads,
        modelDir: config.MODEL_DIR,
        weights: config.MODEL_WEIGHTS,
      },
      'worker ready',
    );
    return worker;
  }

  /**
   * Stops taking jobs, gives active ones `graceMs` to finish, then hands the rest back to the queue
   * (their streamed tokens stay; another worker resumes after them). BullMQ's own close would wait
   * forever. Bounded whatever Redis does: at most graceMs + HAND_BACK_MS + 2 CLOSE_MS; a job that
   * could not be handed back (Redis away) is found stalled once its lock expires.
   */
  shutdown(graceMs: number): Promise<void> {
    this.shuttingDown ??= this.stop(graceMs);
    return this.shuttingDown;
  }

  private async stop(graceMs: number): Promise<void> {
    this.logger.info({ activeJobs: this.activeJobs.size, graceMs }, 'shutting down');
    const closed = this.bull.close();
    const graceEnded = sleep(graceMs).then(() => 'timeout' as const);
    if ((await Promise.race([closed, graceEnded])) === 'timeout') {
      this.logger.warn({ activeJobs: this.activeJobs.size }, 'grace period over: handing active jobs back');
      this.activeJobs.handBackAll();
      if (!(await settlesWithin(closed, HAND_BACK_MS)))
        this.logger.warn(
          { activeJobs: this.activeJobs.size },
          'jobs not handed back: they return when their lock expires',
        );
    }
    const flushed = this.writer.flush().catch((error: unknown) => {
      this.logger.error({ err: error }, 'final stream flush failed');
    });
    if (!(await settlesWithin(flushed, CLOSE_MS))) this.logger.error('final stream flush timed out');
    await settlesWithin(this.cancels.close(), CLOSE_MS);
    await this.engine.terminate();
    // QUIT would wait for Redis to answer; anything still queued on these connections is lost anyway.
    for (const connection of this.connections) connection.disconnect();
    this.logger.info('worker stopped');
  }

  private onEngineStopped(reason: string): void {
    if (this.shuttingDown) return;
    // Without an engine this process can only fail jobs; stop taking them and let main exit.
    this.logger.error({ reason }, 'engine stopped unexpectedly');
    void this.shutdown(0).then(() => process.exit(1));
  }
}
