import type { ChainableCommander } from 'ioredis';
import {
  encodeStreamEvent,
  writeFinalState,
  type FinalRecord,
  type JobStateFields,
  type QueueKeys,
  type RedisClient,
  type StreamEvent,
} from '@sambay/protocol';
import { queueCheckpointWrite, queueFencedWrite, type WriteFence } from './fenced-write.js';
import { StreamWriteError } from './stream-write-error.js';

export interface TokenStreamWriterOptions {
  /** Connection for stream and state writes; commands on one connection apply in send order. */
  redis: RedisClient;
  keys: QueueKeys;
  /** Longest time a token waits before it is written. @defaultValue STREAM_FLUSH_MS (50) */
  flushMs: number;
  /** Lifetime of a finished job's stream, state hash and text. @defaultValue RESULT_TTL_SECONDS (3600) */
  ttlSeconds: number;
  /** Lifetime of an unfinished job's text, should no attempt ever finish it. */
  pendingTtlSeconds: number;
}

/** Where a job's stream stands: what the next token chunk continues from. */
export interface StreamPosition {
  /** Index of the next token to be written. */
  nextIndex: number;
  /**
   * The writing attempt's BullMQ lock token: every write is refused once the job's lock holds
   * another (the job was given up for stalled and runs elsewhere). Without it, writes are unfenced.
   */
  lockToken?: string;
}

interface OpenJob {
  nextIndex: number;
  fence: WriteFence;
  /** Buffered since the last flush. */
  tokenIds: number[];
  text: string;
  state: JobStateFields;
  /** The first failed write; the job cannot finish cleanly after it (its stream has a gap). */
  error: Error | null;
}

/**
 * Groups the token output of every job this process runs into one pipelined round trip per flush
 * interval: per job one XADD of a `tokens` chunk, one APPEND of its text and one HSET of its state.
 * Token-by-token writes would cost a round trip per token per sequence (XADD runs ~15k/s one at a
 * time, ~68k/s pipelined: docs/benchmarks.md#redis-and-bullmq).
 * Non-token events go through the same buffer so a job's stream stays in order.
 */
export class TokenStreamWriter {
  private readonly jobs = new Map<string, OpenJob>();
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;

  constructor(private readonly options: TokenStreamWriterOptions) {}

  /** Starts buffering for a job whose stream already holds `position` (nothing, or an earlier attempt). */
  open(jobId: string, position: StreamPosition): void {
    const { keys, pendingTtlSeconds: ttlSeconds } = this.options;
    const fence = { keys, jobId, lockToken: position.lockToken ?? '', ttlSeconds };
    this.jobs.set(jobId, { nextIndex: position.nextIndex, fence, tokenIds: [], text: '', state: {}, error: null });
  }

  isOpen(jobId: string): boolean {
    return this.jobs.has(jobId);
  }

  /**
   * Buffers new tokens (and state fields to write with them); written within `flushMs`, or at once
   * for a job's first token, which its client is waiting on.
   */
  append(jobId: string, tokenIds: readonly number[], text: string, state: JobStateFields = {}): void {
    const job = this.job(jobId);
    const first = job.nextIndex === 0 && job.tokenIds.length === 0 && tokenIds.length > 0;
    job.tokenIds.push(...tokenIds);
    job.text += text;
    Object.assign(job.state, state);
    if (first) {
      this.flushSoon();
      return;
    }
    // A failed timed flush is recorded on its jobs and reported by `finish`.
    this.timer ??= setTimeout(() => {
      this.flush().catch(() => undefined);
    }, this.options.flushMs);
  }

  /** Writes one event now, after the job's buffered tokens. */
  async write(jobId: string, event: StreamEvent, state: JobStateFields = {}): Promise<void> {
    const job = this.job(jobId);
    const pipe = this.options.redis.pipeline();
    this.drain(pipe, job);
    queueFencedWrite(pipe, job.fence, { entry: encodeStreamEvent(event), text: '', tokens: null, state });
    await this.exec(pipe, [job]);
  }

  /** Stores a checkpoint of the job after its buffered tokens (which it covers), replacing the last one. */
  async checkpoint(jobId: string, checkpoint: { tokens: number; state: Uint8Array }): Promise<void> {
    const job = this.job(jobId);
    const pipe = this.options.redis.pipeline();
    this.drain(pipe, job);
    queueCheckpointWrite(pipe, job.fence, checkpoint);
    await this.exec(pipe, [job]);
  }

  /**
   * Writes the job's buffered tokens, then its final record (protocol `writeFinalState`), in one
   * round trip. Rejects if any earlier write of this job failed, since its stream then has a gap.
   */
  async finish(jobId: string, record: FinalRecord): Promise<void> {
    const job = this.job(jobId);
    const pipe = this.options.redis.pipeline();
    this.drain(pipe, job);
    writeFinalState(pipe, this.options.keys, jobId, record, this.options.ttlSeconds, job.fence.lockToken);
    this.jobs.delete(jobId);
    await this.exec(pipe, [job]);
    if (job.error) throw job.error;
  }

  /** Writes what is buffered and forgets the job, leaving the stream open for another attempt. */
  async release(jobId: string): Promise<void> {
    const job = this.job(jobId);
    const pipe = this.options.redis.pipeline();
    this.drain(pipe, job);
    this.jobs.delete(jobId);
    await this.exec(pipe, [job]);
  }

  /** One round trip for every job with buffered tokens. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const pipe = this.options.redis.pipeline();
    const flushed: OpenJob[] = [];
    for (const job of this.jobs.values()) if (this.drain(pipe, job)) flushed.push(job);
    if (flushed.length > 0) await this.exec(pipe, flushed);
  }

  /**
   * Flushes once the current event-loop turn ends (setImmediate, not a 0 ms timer, which Node rounds
   * up to 1 ms): the other jobs' tokens of the same engine step, delivered in the same message, join it.
   */
  private flushSoon(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.immediate ??= setImmediate(() => {
      this.immediate = null;
      this.flush().catch(() => undefined);
    });
  }

  private job(jobId: string): OpenJob {
    const job = this.jobs.get(jobId);
    if (!job) throw new StreamWriteError(jobId, 'the job is not open in this writer');
    return job;
  }

  /**
   * Moves a job's buffer into `pipe` as one fenced write: one `tokens` chunk, the text APPENDed,
   * one HSET. Returns whether it added anything.
   */
  private drain(pipe: ChainableCommander, job: OpenJob): boolean {
    const hasTokens = job.tokenIds.length > 0 || job.text.length > 0;
    const hasState = Object.keys(job.state).length > 0;
    if (!hasTokens && !hasState) return false;
    const event: StreamEvent = { type: 'tokens', index: job.nextIndex, token_ids: job.tokenIds, text: job.text };
    queueFencedWrite(pipe, job.fence, {
      entry: hasTokens ? encodeStreamEvent(event) : null,
      text: job.text,
      tokens: hasTokens ? { from: job.nextIndex, to: job.nextIndex + job.tokenIds.length } : null,
      state: job.state,
    });
    job.nextIndex += job.tokenIds.length;
    job.tokenIds = [];
    job.text = '';
    job.state = {};
    return true;
  }

  /** Runs a pipeline; a failed command marks the jobs it wrote for (pipelines do not reject per command). */
  private async exec(pipe: ChainableCommander, jobs: OpenJob[]): Promise<void> {
    let failure: Error | null;
    try {
      const results = (await pipe.exec()) ?? [];
      failure = results.find(([error]) => error)?.[0] ?? null;
    } catch (error) {
      failure = error as Error;
    }
    if (!failure) return;
    for (const job of jobs) job.error ??= failure;
    throw new StreamWriteError(null, failure.message);
  }
}
