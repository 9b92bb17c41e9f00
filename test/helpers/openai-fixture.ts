import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Redis } from 'ioredis';
import OpenAI from 'openai';
import { writeModelDir } from '@sambay/engine/model';
import { QueueKeys } from '@sambay/protocol';
import { startApiProcess, type ApiProcess } from './api-process.js';
import { connectRedis, deleteKeys, testPrefix } from './redis.js';
import { startWorkerProcess, type WorkerProcess } from './worker-process.js';

/** The model id the fixture's API serves (SERVED_MODEL_NAME). */
export const SERVED_MODEL = 'tiny-test';

export interface OpenAiFixtureOptions {
  /** Environment of the API on top of the fixture's own. */
  apiEnv?: Record<string, string>;
  /** Start a worker (on the tiny preset model)? Without one every job stays queued. @defaultValue true */
  worker?: boolean;
}

/**
 * An API process and a worker process on the tiny preset model (no tokenizer_config.json, so chat
 * uses the default template), sharing a queue prefix, a files directory, and an official `openai`
 * client pointed at the API. Made by {@link useOpenAi}.
 */
export class OpenAiFixture {
  readonly prefix = testPrefix();
  readonly keys = new QueueKeys(this.prefix);
  #api: ApiProcess | undefined;
  #worker: WorkerProcess | undefined;
  #redis: Redis | undefined;
  #dir: string | undefined;
  #client: OpenAI | undefined;

  constructor(private readonly options: OpenAiFixtureOptions) {}

  get api(): ApiProcess {
    if (!this.#api) throw new Error('the fixture is not started');
    return this.#api;
  }

  get client(): OpenAI {
    if (!this.#client) throw new Error('the fixture is not started');
    return this.#client;
  }

  get redis(): Redis {
    if (!this.#redis) throw new Error('the fixture is not started');
    return this.#redis;
  }

  url(path: string): string {
    return `${this.api.url}${path}`;
  }

  async start(): Promise<void> {
    this.#redis = connectRedis();
    this.#dir = await mkdtemp(join(tmpdir(), 'sambay-openai-'));
    const modelDir = join(this.#dir, 'model');
    await writeModelDir(modelDir, { preset: 'tiny', seed: 0 });
    const common = { QUEUE_PREFIX: this.prefix, MODEL_DIR: modelDir };
    this.#api = await startApiProcess({
      ...common,
      SERVED_MODEL_NAME: SERVED_MODEL,
      FILES_DIR: join(this.#dir, 'files'),
      ...this.options.apiEnv,
    });
    if (this.options.worker !== false) this.#worker = await startWorkerProcess(common);
    this.#client = new OpenAI({ baseURL: `${this.#api.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  }

  /** Stops both processes, deletes the keys and the directory; expects the API to exit with 0. */
  async stop(): Promise<void> {
    const code = this.#api ? await this.#api.stop() : 0;
    await this.#worker?.stop('SIGKILL');
    if (this.#redis) {
      await deleteKeys(this.#redis, this.prefix);
      await this.#redis.quit();
    }
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
    assert.equal(code, 0, `api exit code after SIGTERM:\n${this.#api?.output() ?? ''}`);
  }
}

/** Registers before/after hooks that start an {@link OpenAiFixture} and stop it afterwards. */
export function useOpenAi(options: OpenAiFixtureOptions = {}): OpenAiFixture {
  const fixture = new OpenAiFixture(options);
  before(() => fixture.start());
  after(() => fixture.stop());
  return fixture;
}
