import { type Job, UnrecoverableError, WaitingError } from 'bullmq';
import type { Logger } from 'pino';
import type { FinishReason, GenerationEvent } from '@sambay/engine';
import {
  type RedisClient,
  finalRecord,
  JobStateField as F,
  type GenerateJobData,
  type GenerateJobResult,
  type QueueKeys,
} from '@sambay/protocol';
import { isCancelled } from '../cancellation/cancel-listener.js';
import type { GenerationEngine } from '../engine/generation-engine.js';
import type { AttemptMeter, WorkerMetrics } from '../metrics/worker-metrics.js';
import { LockLostError } from '../streaming/stream-write-error.js';
import type { TokenStreamWriter } from '../streaming/token-stream-writer.js';
import type { ActiveJob, ActiveJobs } from './active-jobs.js';
import { Checkpointer, checkpointsOn, type CheckpointSettings, usableCheckpoint } from './checkpointer.js';
import { jobLogger } from './job-logger.js';
import { noPreviousAttempt, readPreviousAttempt, type PreviousAttempt } from './previous-attempt.js';
import { ProgressMeter } from './progress-meter.js';
import { toGenerationRequest } from './to-generation-request.js';

export interface JobRunDeps {
  redis: RedisClient;
  keys: QueueKeys;
  engine: GenerationEngine;
  writer: TokenStreamWriter;
  activeJobs: ActiveJobs;
  logger: Logger;
  /** The process's Prometheus series; absent in tests that do not look at them. */
  metrics?: WorkerMetrics;
  /** State checkpoints (service-config.ts CHECKPOINT_*); absent: none written or read. */
  checkpoints?: CheckpointSettings;
}

type Ending =
  | { type: 'finished'; reason: FinishReason; promptTokens: number; generatedTokens: number }
  | { type: 'failed'; message: string };

let runCounter = 0;

/**
 * One attempt at one job: picks up after any earlier attempt, streams the engine's tokens, and ends
 * with `done` (completed or cancelled), `error`, or, on shutdown, by handing the job back unfinished.
 */
export class JobRun implements ActiveJob {
  private readonly jobId: string;
  /** Engine ids are unique per attempt, so a late event of an old attempt never reaches a new one. */
  private readonly engineId: string;
  private submitted = false;
  private cancelRequested = false;
  private handBackRequested = false;
  private abandoned = false;
  /** The `running` write failed: the generation is stopped and nothing more of it is written. */
  private writesStopped = false;
  private text = '';
  private firstTokenAt: number | null = null;
  private readonly progress: ProgressMeter;
  /** Every line about this job carries its jobId and batchId (and the process's workerId). */
  private readonly log: Logger;
  private meter: AttemptMeter | undefined;

  constructor(
    private readonly deps: JobRunDeps,
    private readonly job: Job<GenerateJobData, GenerateJobResult>,
    private readonly token: string | undefined,
  ) {
    this.jobId = job.id!;
    this.engineId = `${this.jobId}#${++runCounter}`;
    this.progress = new ProgressMeter(job.data.request.max_tokens);
    this.log = jobLogger(deps.logger, job);
  }

  cancel(): void {
    this.log.info('cancelling job');
    this.cancelRequested = true;
    if (this.submitted) this.deps.engine.cancel(this.engineId);
  }

  handBack(): void {
    this.handBackRequested = true;
    if (this.submitted) this.deps.engine.cancel(this.engineId);
  }

  abandon(): void {
    this.log.warn('lost the lock on a job: abandoning this attempt');
    this.abandoned = true;
    if (this.submitted) this.deps.engine.cancel(this.engineId);
  }

  private stopWriting(): void {
    this.writesStopped = true;
    if (this.submitted) this.deps.engine.cancel(this.engineId);
  }

  async execute(): Promise<GenerateJobResult> {
    // Registered before the first await, so a cancel published from here on is not missed.
    this.deps.activeJobs.add(this.jobId, this);
    try {
      return await this.attempt();
    } finally {
      this.deps.activeJobs.delete(this.jobId, this);
      // Only after an unexpected error (Redis) is the job still open: keep what it produced for the retry.
      if (this.deps.writer.isOpen(this.jobId)) await this.deps.writer.release(this.jobId).catch(() => undefined);
    }
  }

  private async attempt(): Promise<GenerateJobResult> {
    const { redis, keys, writer } = this.deps;
    // BullMQ counts this pickup in attemptsStarted: at 1 no attempt ran before, so there is nothing to
    // resume and the engine starts without waiting for a read; the cancel flag (set by a cancel that
    // came before this attempt registered) is read alongside the `running` write and stops it there.
    // A later attempt reads what the earlier ones left first (both reads in one round trip).
    const fresh = this.job.attemptsStarted === 1;
    const [previous, cancelled] = fresh
      ? [noPreviousAttempt(), false]
      : await Promise.all([
          readPreviousAttempt(redis, keys, this.jobId, { checkpoint: checkpointsOn(this.deps.checkpoints) }),
          isCancelled(redis, keys, this.jobId),
        ]);
    if (previous.done) return previous.done;
    const startedAt = Number(previous.state[F.startedAt] ?? Date.now());
    this.firstTokenAt = previous.state[F.firstTokenAt] ? Number(previous.state[F.firstTokenAt]) : null;
    this.text = previous.text;
    writer.open(this.jobId, { nextIndex: previous.tokenIds.length, ...(this.token ? { lockToken: this.token } : {}) });

    if (this.cancelRequested || cancelled) {
      return this.complete(
        { type: 'finished', reason: 'cancelled', promptTokens: 0, generatedTokens: previous.tokenIds.length },
        startedAt,
      );
    }
    this.meter = this.deps.metrics?.attempt({
      submittedAt: this.job.data.submittedAt,
      startedAt,
      firstStart: previous.state[F.startedAt] === undefined,
      resumedTokens: previous.tokenIds.length,
    });
    const running = { [F.status]: 'running', [F.startedAt]: String(startedAt) };
    // Not awaited before the engine gets the job, so its round trip overlaps the prefill: the writer's
    // commands apply in send order on its one connection, so `running` still precedes the first tokens.
    let announced: Promise<unknown> = Promise.resolve();
    if (previous.announcedRunning) writer.append(this.jobId, [], '', running);
    else announced = writer.write(this.jobId, { type: 'status', status: 'running' }, running);
    if (fresh)
      announced = Promise.all([announced, isCancelled(redis, keys, this.jobId)]).then(([, late]) => {
        if (late) this.cancel();
      });
    if (previous.tokenIds.length > 0) this.log.info({ resumedTokens: previous.tokenIds.length }, 'resuming job');

    const generation = this.generate(previous);
    try {
      await announced;
    } catch (error) {
      // As before the engine had it: the attempt fails (BullMQ retries it) and writes nothing more.
      this.stopWriting();
      await generation;
      throw error;
    }
    const ending = await generation;
    // Its writes are refused now; BullMQ cannot record anything for it either (it holds no lock).
    if (this.abandoned) throw new LockLostError(this.jobId);
    if (this.handBackRequested) return this.giveBack();
    return this.complete(ending, startedAt);
  }

  /** Runs the engine until the job's sequence ends; token chunks go to the writer as they come. */
  private generate(previous: PreviousAttempt): Promise<Ending> {
    const { engine, writer } = this.deps;
    const resumeState = usableCheckpoint(previous.checkpoint, previous.tokenIds.length);
    const checkpointer = new Checkpointer(
      engine.checkpoint ? this.deps.checkpoints : undefined,
      previous.tokenIds.length,
      () => engine.checkpoint?.(this.engineId),
      (checkpoint) => writer.checkpoint(this.jobId, checkpoint),
      this.log,
    );
    return new Promise<Ending>((resolve) => {
      if (this.handBackRequested) {
        resolve({ type: 'failed', message: 'handed back' });
        return;
      }
      const onEvent = (event: GenerationEvent) => {
        if (event.type === 'finished' || event.type === 'failed') {
          resolve(event);
          return;
        }
        if (event.type === 'started') this.meter?.prefilled(event.promptTokens);
        if (event.type === 'started' && event.resumedFrom) {
          const { resumedFrom, checkpointError, replayTokens } = event;
          const checkpointTokens = resumedFrom === 'checkpoint' ? resumeState?.tokens : undefined;
          this.log.info({ resumedFrom, checkpointTokens, checkpointError, replayTokens }, 'resumed generation');
        }
        // After a hand-back the next attempt regenerates these tokens identically; writing them would repeat them.
        if (this.handBackRequested || this.abandoned || this.writesStopped) return;
        // Stored after the tokens it covers (the writer drains them first), so it never runs ahead of the stream.
        if (event.type === 'checkpoint') checkpointer.received(event);
        if (event.type !== 'tokens') return;
        const state: Record<string, string> = { [F.generatedTokens]: String(event.generated) };
        const now = Date.now();
        const first = this.firstTokenAt === null && event.tokenIds.length > 0;
        if (first) {
          this.firstTokenAt = now;
          state[F.firstTokenAt] = String(this.firstTokenAt);
        }
        this.meter?.tokens(event.tokenIds.length, now, first);
        this.text += event.text;
        writer.append(this.jobId, event.tokenIds, event.text, state);
        const report = this.progress.tick(event.generated);
        if (report) this.reportProgress(report);
        checkpointer.tokens(event.generated, now);
      };
      const request = toGenerationRequest(this.engineId, this.job.data.request, previous.tokenIds);
      engine.submit(resumeState ? { ...request, resumeState } : request, onEvent);
      this.submitted = true;
      // cancel() and abandon() reach the engine only once it has the request; one that came during
      // the reads before is applied now, not lost.
      if (this.cancelRequested || this.abandoned) engine.cancel(this.engineId);
    });
  }

  private reportProgress(report: ReturnType<ProgressMeter['report']>): void {
    const state = { [F.tokensPerSecond]: String(report.tokens_per_second) };
    this.deps.writer.write(this.jobId, { type: 'progress', ...report }, state).catch((error: unknown) => {
      this.log.warn({ err: error }, 'progress write failed');
    });
  }

  /** Writes the job's last stream event and returns its result (or throws, for BullMQ to mark it failed). */
  private async complete(ending: Ending, startedAt: number): Promise<GenerateJobResult> {
    const finishedAt = Date.now();
    if (ending.type === 'failed') {
      await this.deps.writer.finish(this.jobId, finalRecord({ status: 'failed', message: ending.message, finishedAt }));
      this.meter?.finished('failed', null, finishedAt);
      // Not retried: the stream already ends with `error`, and a retry would write after a terminal event.
      throw new UnrecoverableError(ending.message);
    }
    const record = finalRecord({
      status: ending.reason === 'cancelled' ? 'cancelled' : 'completed',
      finishReason: ending.reason,
      text: this.text,
      promptTokens: ending.promptTokens,
      generatedTokens: ending.generatedTokens,
      tokensPerSecond: this.progress.report(ending.generatedTokens, finishedAt).tokens_per_second,
      times: { submittedAt: this.job.data.submittedAt, startedAt, firstTokenAt: this.firstTokenAt, finishedAt },
    });
    await this.deps.writer.finish(this.jobId, record);
    this.meter?.finished(ending.reason === 'cancelled' ? 'cancelled' : 'completed', ending.reason, finishedAt);
    return record.result!;
  }

  /**
   * Shutdown: keeps the tokens written so far and puts the job back in the queue now, instead of
   * leaving it to be found stalled when its lock expires; the next attempt resumes after those tokens.
   */
  private async giveBack(): Promise<never> {
    await this.deps.writer.release(this.jobId);
    await this.job.moveToWait(this.token);
    this.log.info('job handed back to the queue');
    throw new WaitingError();
  }
}
