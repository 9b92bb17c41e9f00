import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { writeModelDir } from '@sambay/engine/model';
import {
  type GenerateJobData,
  type GenerateJobResult,
  type JobRequest,
  QueueKeys,
  type StreamEvent,
} from '@sambay/protocol';
import { isEnd, readJobStream } from './job-stream.js';
import { connectRedis, deleteKeys, testPrefix } from './redis.js';
import { waitFor } from './wait.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

/** The request fields `add` fills in unless told otherwise. */
const DEFAULT_REQUEST: JobRequest = {
  prompt: 'the cat sat on the mat',
  max_tokens: 48,
  temperature: 0.9,
  top_p: 1,
  top_k: 0,
  seed: 11,
  stop: [],
  priority: 0,
  metadata: {},
};

/**
 * Built worker processes (services/worker/dist/main.js) on the tiny preset model, fed jobs through
 * BullMQ and read back through the job streams, as the API sees them. Made by {@link useWorkers}.
 */
export class WorkerFixture {
  readonly prefix = testPrefix();
  readonly keys = new QueueKeys(this.prefix);
  /** Every worker process started, the stopped ones included. */
  readonly workers: WorkerProcess[] = [];
  #redis: Redis | undefined;
  #queueConnection: Redis | undefined;
  #queue: Queue<GenerateJobData, GenerateJobResult> | undefined;
  #modelDir: string | undefined;

  constructor(private readonly env: Record<string, string>) {}

  get redis(): Redis {
    if (!this.#redis) throw new Error('the fixture is not started');
    return this.#redis;
  }

  get queue(): Queue<GenerateJobData, GenerateJobResult> {
    if (!this.#queue) throw new Error('the fixture is not started');
    return this.#queue;
  }

  /** The worker started last. */
  get worker(): WorkerProcess {
    const worker = this.workers.at(-1);
    if (!worker) throw new Error('no worker started');
    return worker;
  }

  async start(): Promise<void> {
    this.#redis = connectRedis();
    this.#queueConnection = connectRedis();
    this.#queue = new Queue(this.keys.queueName, { prefix: this.keys.bullPrefix, connection: this.#queueConnection });
    this.#modelDir = await mkdtemp(join(tmpdir(), 'sambay-worker-model-'));
    await writeModelDir(this.#modelDir, { preset: 'tiny', seed: 0 });
    await this.startWorker();
  }

  /** Starts another worker process with the fixture's environment; resolves once it is ready. */
  async startWorker(): Promise<WorkerProcess> {
    if (this.#modelDir === undefined) throw new Error('the fixture is not started');
    const worker = await startWorkerProcess({ QUEUE_PREFIX: this.prefix, MODEL_DIR: this.#modelDir, ...this.env });
    this.workers.push(worker);
    return worker;
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop('SIGKILL')));
    await this.#queue?.close();
    if (this.#redis) await deleteKeys(this.#redis, this.prefix);
    await Promise.all([this.#redis?.quit(), this.#queueConnection?.quit()]);
    if (this.#modelDir) await rm(this.#modelDir, { recursive: true, force: true });
  }

  /** Adds a `generate` job as the API would, with `overrides` on top of a default request. */
  add(id: string, overrides: Partial<JobRequest>, options: { delay?: number } = {}) {
    const data: GenerateJobData = {
      request: { ...DEFAULT_REQUEST, ...overrides },
      batchId: null,
      submittedAt: Date.now(),
    };
    return this.queue.add('generate', data, { jobId: id, ...options });
  }

  /**
   * Adds a job as an earlier attempt of it would have left it in BullMQ: started once (a worker takes
   * only a job's first attempt without reading what earlier ones wrote). Delayed, so that no worker
   * takes it before it is marked.
   */
  async addRetried(id: string, overrides: Partial<JobRequest>): Promise<void> {
    await this.add(id, overrides, { delay: 100 });
    await this.redis.hset(this.keys.bullJob(id), 'ats', '1');
  }

  read(id: string): Promise<StreamEvent[]> {
    return readJobStream(this.redis, this.keys, id);
  }

  /** {@link waitFor} with the last worker's log in the timeout error. */
  waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
    return waitFor(what, probe, { timeoutMs, detail: () => this.workers.at(-1)?.output().slice(-2000) ?? '' });
  }

  /** Waits for the job's terminal stream event and BullMQ's record of its return value. */
  async finished(id: string): Promise<{ events: StreamEvent[]; result: GenerateJobResult }> {
    const events = await this.waitFor(`${id} to end`, async () => {
      const events = await this.read(id);
      return events.some(isEnd) && events;
    });
    const job = await this.waitFor(`${id} to complete in BullMQ`, async () => {
      const job = await this.queue.getJob(id);
      return job?.returnvalue ? job : null;
    });
    return { events, result: job.returnvalue };
  }
}

/**
 * Registers before/after hooks in the enclosing file or describe: a model directory, a queue with
 * its own prefix and one worker process started with `env`; afterwards every worker is killed and
 * the keys and directory are deleted.
 */
export function useWorkers(env: Record<string, string>): WorkerFixture {
  const fixture = new WorkerFixture(env);
  before(() => fixture.start());
  after(() => fixture.stop());
  return fixture;
}
