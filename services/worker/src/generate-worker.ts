import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  type GenerateJobData,
  type GenerateJobResult,
  pendingTtlSeconds,
  QueueKeys,
  type ServiceConfig,
} from '@sambay/protocol';
import { CancelListener } from './cancellation/cancel-listener.js';
import { EngineClient } from './engine/engine-client.js';
import { ActiveJobs } from './processor/active-jobs.js';
import { createGenerateProcessor } from './processor/generate-processor.js';
import { TokenStreamWriter } from './streaming/token-stream-writer.js';

/** How long handed-back jobs get to write their last tokens and return to the queue. */
const HAND_BACK_MS = 5_000;

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
    private readonly connections: Redis[],
    private readonly logger: Logger,
  ) {}

  static async start(config: ServiceConfig, logger: Logger): Promise<GenerateWorker> {
    const keys = new QueueKeys(config.QUEUE_PREFIX);
    // The engine first: a worker that cannot load its model must not take jobs.
    const engine = await EngineClient.start({
      modelDir: config.MODEL_DIR,
      maxSequences: config.WORKER_MAX_SEQUENCES,
      executionProvider: config.EXECUTION_PROVIDER,
    });
    const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
    const subscriber = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
    const bullConnection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
    const writer = new TokenStreamWriter({
      redis,
      keys,
      flushMs: config.STREAM_FLUSH_MS,
      ttlSeconds: config.RESULT_TTL_SECONDS,
      pendingTtlSeconds: pendingTtlSeconds(config.RESULT_TTL_SECONDS),
    });
    const activeJobs = new ActiveJobs();
    const cancels = new CancelListener({
      subscriber,
      keys,
      onCancel: (jobId) => {
        if (activeJobs.cancel(jobId)) logger.info({ jobId }, 'cancelling job');
      },
    });
    await cancels.start();
    const processor = createGenerateProcessor({ redis, keys, engine, writer, activeJobs, logger });
    const bull = new Worker<GenerateJobData, GenerateJobResult>(keys.queueName, processor, {
      prefix: keys.bullPrefix,
      connection: bullConnection,
      concurrency: config.WORKER_MAX_SEQUENCES,
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
    );
    bull.on('failed', (job, error) => {
      logger.warn({ jobId: job?.id, err: error }, 'job failed');
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
        modelDir: config.MODEL_DIR,
      },
      'worker ready',
    );
    return worker;
  }

  /**
   * Stops taking jobs, gives active ones `graceMs` to finish, then hands the rest back to the queue
   * (their streamed tokens stay; another worker resumes after them). BullMQ's own close would wait forever.
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
      await Promise.race([closed, sleep(HAND_BACK_MS)]);
    }
    await this.writer.flush().catch((error: unknown) => {
      this.logger.error({ err: error }, 'final stream flush failed');
    });
    await this.cancels.close();
    await this.engine.terminate();
    await Promise.all(
      this.connections.map((c) =>
        c.quit().catch(() => {
          c.disconnect();
        }),
      ),
    );
    this.logger.info('worker stopped');
  }

  private onEngineStopped(reason: string): void {
    if (this.shuttingDown) return;
    // Without an engine this process can only fail jobs; stop taking them and let main exit.
    this.logger.error({ reason }, 'engine stopped unexpectedly');
    void this.shutdown(0).then(() => process.exit(1));
  }
}
