import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Redis } from 'ioredis';
import { QueueKeys } from '@sambay/protocol';
import { startApiProcess, type ApiProcess } from './api-process.js';
import type { JobAccepted } from './api-types.js';
import { getJson, postJson, type HttpReply } from './http.js';
import { connectRedis, deleteKeys, testPrefix } from './redis.js';

/** `_name_or_path` of the config.json the fixture writes; /readyz reports it as the model name. */
export const FIXTURE_MODEL_NAME = 'test-tiny';

export interface ApiFixtureOptions {
  /**
   * `config-only`: a model directory holding only config.json (all the API reads of a model: its name,
   * and the vocabulary its prompt-token count needs).
   * `missing`: MODEL_DIR names a directory that does not exist, so /readyz is 503.
   * @defaultValue 'config-only'
   */
  model?: 'config-only' | 'missing';
}

/**
 * One built API process with no worker (every job stays queued unless a test moves it), its own
 * queue prefix, and a Redis connection for looking at what it wrote. Made by {@link useApi}.
 */
export class ApiFixture {
  readonly prefix = testPrefix();
  readonly keys = new QueueKeys(this.prefix);
  #api: ApiProcess | undefined;
  #redis: Redis | undefined;
  #modelDir: string | undefined;
  #ownsModelDir = false;

  get api(): ApiProcess {
    if (!this.#api) throw new Error('the API is not started (use the fixture inside tests, after its before hook)');
    return this.#api;
  }

  get redis(): Redis {
    if (!this.#redis) throw new Error('the fixture is not started');
    return this.#redis;
  }

  get modelDir(): string {
    if (this.#modelDir === undefined) throw new Error('the fixture is not started');
    return this.#modelDir;
  }

  url(path: string): string {
    return `${this.api.url}${path}`;
  }

  get<T = unknown>(path: string, headers: Record<string, string> = {}): Promise<HttpReply<T>> {
    return getJson<T>(this.url(path), headers);
  }

  post<T = unknown>(path: string, body: string | object, headers: Record<string, string> = {}): Promise<HttpReply<T>> {
    return postJson<T>(this.url(path), body, headers);
  }

  /** Submits one job (202 expected) and returns its id. */
  async submit(body: object): Promise<string> {
    const res = await this.post<JobAccepted>('/v1/jobs', body);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.id;
  }

  /** Submits one job and cancels it while it is queued (202 expected): a finished job whose stream is queued, done. */
  async cancelledJob(body: object): Promise<string> {
    const id = await this.submit(body);
    const cancel = await this.post(`/v1/jobs/${id}/cancel`, {});
    assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
    return id;
  }

  async start(env: Record<string, string>, options: ApiFixtureOptions): Promise<void> {
    this.#redis = connectRedis();
    if (options.model === 'missing') {
      this.#modelDir = join(tmpdir(), `no-model-${this.prefix}`);
    } else {
      this.#modelDir = await mkdtemp(join(tmpdir(), 'api-model-'));
      this.#ownsModelDir = true;
      await writeFile(
        join(this.#modelDir, 'config.json'),
        // vocab_size: the API counts prompt tokens with this directory's tokenizer (the byte-level one here).
        JSON.stringify({ model_type: 'phi4flash', _name_or_path: FIXTURE_MODEL_NAME, vocab_size: 258 }),
      );
    }
    this.#api = await startApiProcess({ QUEUE_PREFIX: this.prefix, MODEL_DIR: this.#modelDir, ...env });
  }

  /** Stops the API (SIGTERM; a no-op if a test already stopped it), deletes its keys and model directory; expects exit code 0. */
  async stop(): Promise<void> {
    const code = this.#api ? await this.#api.stop() : 0;
    if (this.#redis) {
      await deleteKeys(this.#redis, this.prefix);
      await this.#redis.quit();
    }
    if (this.#ownsModelDir && this.#modelDir) await rm(this.#modelDir, { recursive: true, force: true });
    assert.equal(code, 0, `api exit code after SIGTERM:\n${this.#api?.output() ?? ''}`);
  }
}

/**
 * Registers before/after hooks in the enclosing file or describe that start an {@link ApiFixture}
 * with `env` (on top of QUEUE_PREFIX and MODEL_DIR) and stop and clean it up afterwards.
 */
export function useApi(env: Record<string, string> = {}, options: ApiFixtureOptions = {}): ApiFixture {
  const fixture = new ApiFixture();
  before(() => fixture.start(env, options));
  after(() => fixture.stop());
  return fixture;
}
