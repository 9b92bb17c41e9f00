// The worker's BullMQ processor in this process against a real Redis, with a scripted engine
// standing in for the model: resume after an earlier attempt, hand-back on shutdown, cancel before
// and during a run, engine failure. (The built worker process on a real model: service-worker-*.)
import assert from 'node:assert/strict';
import { after, test, type TestContext } from 'node:test';
import { Queue, Worker } from 'bullmq';
import { pino } from 'pino';
import type { GenerationRequest } from '@sambay/engine';
import {
  encodeStreamEvent,
  type GenerateJobData,
  type GenerateJobResult,
  type JobRequest,
  QueueKeys,
} from '@sambay/protocol';
import type { EngineListener, GenerationEngine } from '@sambay/worker/engine/generation-engine';
import { ActiveJobs } from '@sambay/worker/processor/active-jobs';
import { createGenerateProcessor } from '@sambay/worker/processor/generate-processor';
import { TokenStreamWriter } from '@sambay/worker/streaming/token-stream-writer';
import { contiguousTokens, isEnd, readJobStream } from './helpers/job-stream.js';
import { connectRedis, deleteKeys, testPrefix } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';

/** Emits token `step` with text `t<step> ` every `stepMs`; resumes at resumeTokens.length like the real scheduler. */
class ScriptedEngine implements GenerationEngine {
  readonly submitted: GenerationRequest[] = [];
  private readonly cancelled = new Set<string>();
  constructor(
    private readonly stepMs: number,
    private readonly failAt = -1,
  ) {}

  submit(request: GenerationRequest, listener: EngineListener): void {
    this.submitted.push(request);
    const id = request.id;
    let step = request.resumeTokens?.length ?? 0;
    const tick = () => {
      if (this.cancelled.has(id)) {
        listener({ type: 'finished', id, reason: 'cancelled', promptTokens: 3, generatedTokens: step });
        return;
      }
      if (step === this.failAt) {
        listener({ type: 'failed', id, message: 'engine exploded' });
        return;
      }
      if (step >= request.maxTokens) {
        listener({ type: 'finished', id, reason: 'length', promptTokens: 3, generatedTokens: step });
        return;
      }
      listener({ type: 'tokens', id, tokenIds: [step], text: `t${step} `, generated: step + 1 });
      step += 1;
      setTimeout(tick, this.stepMs);
    };
    listener({ type: 'started', id, promptTokens: 3 });
    setTimeout(tick, this.stepMs);
  }

  cancel(id: string): void {
    this.cancelled.add(id);
  }
}

const expectedText = (from: number, to: number) => [...Array(to - from).keys()].map((i) => `t${from + i} `).join('');

const redis = connectRedis();
after(async () => {
  await redis.quit();
});

/**
 * A queue under its own prefix for one test, and a way to start in-process workers on it (the
 * processor as the worker's main wires it); all of it is closed and deleted when the test ends.
 */
function setup(t: TestContext, engine: GenerationEngine) {
  const prefix = testPrefix();
  const keys = new QueueKeys(prefix);
  /** BullMQ leaves connections it was given open. */
  const connections: ReturnType<typeof connectRedis>[] = [];
  const connect = () => {
    const connection = connectRedis();
    connections.push(connection);
    return connection;
  };
  const queue = new Queue<GenerateJobData, GenerateJobResult>(keys.queueName, {
    prefix: keys.bullPrefix,
    connection: connect(),
  });
  const workers: Worker[] = [];
  t.after(async () => {
    await Promise.all(workers.map((worker) => worker.close()));
    await queue.close();
    await deleteKeys(redis, prefix);
    await Promise.all(connections.map((c) => c.quit()));
  });
  const startWorker = () => {
    const activeJobs = new ActiveJobs();
    const writer = new TokenStreamWriter({ redis, keys, flushMs: 10, ttlSeconds: 120, pendingTtlSeconds: 600 });
    const processor = createGenerateProcessor({
      redis,
      keys,
      engine,
      writer,
      activeJobs,
      logger: pino({ level: 'silent' }),
    });
    const worker = new Worker<GenerateJobData, GenerateJobResult>(keys.queueName, processor, {
      prefix: keys.bullPrefix,
      connection: connect(),
      concurrency: 4,
    });
    workers.push(worker);
    return { worker, activeJobs };
  };
  // attempts as the API sets them, so a test sees whether a failure is retried.
  const add = (id: string, request: Partial<JobRequest>, options: { delay?: number } = {}) =>
    queue.add(
      'generate',
      {
        request: {
          prompt: 'abc',
          max_tokens: 20,
          temperature: 0,
          top_p: 1,
          top_k: 0,
          seed: 1,
          stop: [],
          priority: 0,
          metadata: {},
          ...request,
        },
        batchId: null,
        submittedAt: Date.now(),
      },
      { jobId: id, attempts: 3, ...options },
    );
  const read = (id: string) => readJobStream(redis, keys, id);
  const waitForEnd = (id: string) =>
    waitFor(`job ${id} to end`, async () => {
      const events = await read(id);
      return events.some(isEnd) && events;
    });
  return { keys, queue, startWorker, add, read, waitForEnd };
}

test('a job whose stream holds an earlier attempt`s tokens continues after them', async (t) => {
  const engine = new ScriptedEngine(1);
  const { keys, startWorker, add, waitForEnd } = setup(t, engine);
  await redis.xadd(keys.jobStream('r'), '*', ...encodeStreamEvent({ type: 'status', status: 'running' }));
  await redis.xadd(
    keys.jobStream('r'),
    '*',
    ...encodeStreamEvent({ type: 'tokens', index: 0, token_ids: [0, 1, 2, 3, 4], text: expectedText(0, 5) }),
  );
  await redis.append(keys.jobText('r'), expectedText(0, 5));
  await redis.hset(keys.jobState('r'), { started_at: '1000', first_token_at: '1100' });
  await add('r', { max_tokens: 12 });
  await redis.hset(keys.bullJob('r'), 'ats', '1'); // BullMQ's count of attempts started: that earlier one
  startWorker();
  const events = await waitForEnd('r');
  assert.deepEqual(engine.submitted[0]!.resumeTokens, [0, 1, 2, 3, 4]);
  assert.deepEqual(contiguousTokens(events), [...Array(12).keys()], 'no token lost or repeated');
  assert.equal(events.filter((e) => e.type === 'status').length, 1, '`running` is not repeated');
  const done = events.at(-1)!;
  assert.ok(done.type === 'done' && done.status === 'completed');
  assert.equal(done.result.text, expectedText(0, 12));
  assert.equal(done.result.usage.completion_tokens, 12);
  const state = await redis.hgetall(keys.jobState('r'));
  assert.equal(state.started_at, '1000', 'start time kept from the first attempt');
  assert.equal(await redis.get(keys.jobText('r')), expectedText(0, 12));
});

test('on shutdown a job is handed back with its tokens, and the next worker finishes it without repeats', async (t) => {
  const engine = new ScriptedEngine(3);
  const { queue, startWorker, add, read, waitForEnd } = setup(t, engine);
  const first = startWorker();
  await add('h', { max_tokens: 60 });
  await waitFor('10 tokens', async () => contiguousTokens(await read('h')).length >= 10, { intervalMs: 5 });
  const closed = first.worker.close();
  first.activeJobs.handBackAll();
  await closed;
  assert.equal(await queue.getJobCountByTypes('wait'), 1, 'back in the queue at once, not after a lock timeout');
  const handedBack = contiguousTokens(await read('h')).length;
  assert.ok(handedBack >= 10 && handedBack < 60);

  startWorker();
  const events = await waitForEnd('h');
  assert.equal(engine.submitted[1]!.resumeTokens?.length, handedBack);
  assert.deepEqual(contiguousTokens(events), [...Array(60).keys()]);
  const done = events.at(-1)!;
  assert.ok(done.type === 'done' && done.result.text === expectedText(0, 60));
});

test('a cancel reaching the process ends a running job as cancelled; so does one marked before it started', async (t) => {
  const engine = new ScriptedEngine(3);
  const { keys, startWorker, add, read, waitForEnd } = setup(t, engine);
  const { activeJobs } = startWorker();
  await add('c', { max_tokens: 1000 });
  await waitFor('3 tokens', async () => contiguousTokens(await read('c')).length >= 3, { intervalMs: 5 });
  assert.equal(activeJobs.cancel('c'), true);
  const events = await waitForEnd('c');
  const done = events.at(-1)!;
  assert.ok(done.type === 'done' && done.status === 'cancelled' && done.result.finish_reason === 'cancelled');
  assert.equal(done.result.text, expectedText(0, contiguousTokens(events).length));
  assert.equal((await redis.hgetall(keys.jobState('c'))).finish_reason, 'cancelled');

  // A first attempt starts the engine without waiting to read the mark (job-run.ts): it reads it
  // alongside its `running` write and stops there, long before the job's 1,000 tokens.
  await redis.set(keys.jobCancelled('q'), '1');
  await add('q', { max_tokens: 1000 });
  const marked = await waitForEnd('q');
  const ended = marked.at(-1)!;
  assert.ok(ended.type === 'done' && ended.status === 'cancelled');
  assert.ok(contiguousTokens(marked).length < 100, `${contiguousTokens(marked).length} tokens`);

  // A later attempt reads the mark before it starts anything: the engine never sees it.
  await redis.set(keys.jobCancelled('p'), '1');
  await add('p', {}, { delay: 100 }); // delayed, so that it is marked as started once before it runs
  await redis.hset(keys.bullJob('p'), 'ats', '1');
  const resumed = await waitForEnd('p');
  assert.deepEqual(
    resumed.map((e) => e.type),
    ['done'],
  );
  assert.equal(engine.submitted.filter((r) => r.id.startsWith('p#')).length, 0, 'the engine never saw it');
});

test('an engine failure writes an error event and fails the job', async (t) => {
  const engine = new ScriptedEngine(1, 4);
  const { keys, queue, startWorker, add, waitForEnd } = setup(t, engine);
  startWorker();
  await add('f', {});
  const events = await waitForEnd('f');
  assert.deepEqual(events.at(-1), { type: 'error', message: 'engine exploded' });
  await waitFor('BullMQ to record the failure', async () => (await queue.getJobCountByTypes('failed')) > 0);
  assert.equal((await queue.getJob('f'))?.failedReason, 'engine exploded');
  assert.equal((await queue.getJob('f'))?.attemptsMade, 1, 'not retried after its stream ended with `error`');
  assert.equal(engine.submitted.length, 1);
  assert.equal((await redis.hgetall(keys.jobState('f'))).status, 'failed');
  assert.ok((await redis.ttl(keys.jobStream('f'))) > 0);
});

test('a failed `running` write fails the attempt: its generation is stopped and none of it is written', async (t) => {
  const engine = new ScriptedEngine(1);
  const cancel = engine.cancel.bind(engine);
  const cancelled: string[] = [];
  engine.cancel = (id) => {
    cancelled.push(id);
    cancel(id);
  };
  const { keys, queue, startWorker, add, read } = setup(t, engine);
  // A state hash that says the job ended, with no `done` in its stream: every fenced write is refused.
  await redis.hset(keys.jobState('w'), { status: 'failed' });
  startWorker();
  await add('w', { max_tokens: 1000 });
  await waitFor('BullMQ to give up on it', async () => (await queue.getJobCountByTypes('failed')) > 0);
  assert.equal(engine.submitted.length, 3, 'each attempt failed on its own write and was retried');
  assert.deepEqual(
    cancelled,
    engine.submitted.map((r) => r.id),
    'each generation was stopped',
  );
  assert.deepEqual(await read('w'), [], 'nothing was written');
});
