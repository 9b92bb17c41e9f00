// End to end: the built API and two built worker processes on the built-in tiny model and a real
// Redis, driven only over HTTP and SSE as a client would. Each job's text is checked against the
// engine run alone, in this process, on the same model directory with the same parameters.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { writeModelDir } from '@sambay/engine/model';
import { QueueKeys, type StreamEvent } from '@sambay/protocol';
import { startApiProcess, type ApiProcess } from './helpers/api-process.js';
import type { BatchAccepted, BatchView, CancelAccepted, ErrorBody, JobAccepted, JobView } from './helpers/api-types.js';
import { EngineAlone, type JobBody } from './helpers/engine-reference.js';
import { getJson, postJson, type HttpReply } from './helpers/http.js';
import { connectRedis, deleteKeys, testPrefix } from './helpers/redis.js';
import { openSse, type SseEvent } from './helpers/sse-client.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker-process.js';

const MAX_BODY_BYTES = 4096;
const MAX_QUEUE_DEPTH = 5;
const WORKER_MAX_SEQUENCES = 2;
const EVENT_ID = /^\d+-\d+$/;

type TokensEvent = Extract<StreamEvent, { type: 'tokens' }>;
type DoneEvent = Extract<StreamEvent, { type: 'done' }>;

const parse = (event: SseEvent) => JSON.parse(event.data) as StreamEvent;
const tokenChunks = (events: SseEvent[]) => events.map(parse).filter((e): e is TokensEvent => e.type === 'tokens');
const streamedText = (events: SseEvent[]) =>
  tokenChunks(events)
    .map((c) => c.text)
    .join('');

/** Asserts chunk `index`es run 0, n0, n0+n1, ... (no gap, no overlap) and returns every token id. */
function contiguousTokens(events: SseEvent[]): number[] {
  let next = 0;
  for (const chunk of tokenChunks(events)) {
    assert.equal(chunk.index, next, `a chunk starts at ${chunk.index}, the previous ones ended at ${next}`);
    next += chunk.token_ids.length;
  }
  return tokenChunks(events).flatMap((c) => c.token_ids);
}

/** Every event carries a stream id, and ids only increase (so no event was sent twice). */
function assertIdsIncrease(events: SseEvent[]): void {
  const ids = events.map((e) => e.id);
  for (const id of ids) assert.match(id ?? '', EVENT_ID);
  const order = (id: string) => id.split('-').map(BigInt) as [bigint, bigint];
  for (let i = 1; i < ids.length; i++) {
    const [a, b] = [order(ids[i - 1]!), order(ids[i]!)];
    assert.ok(b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]), `event id ${ids[i]} after ${ids[i - 1]}`);
  }
}

function lastDone(events: SseEvent[]): DoneEvent {
  const last = events.at(-1);
  assert.ok(last, 'the stream sent events');
  const data = parse(last);
  assert.equal(data.type, 'done', `the last event is done, got ${last.data}`);
  assert.equal(last.event, 'done');
  return data;
}

/** The error envelope exactly: four keys, the given status, type and code. */
function assertError(
  reply: HttpReply<ErrorBody>,
  status: number,
  type: string,
  code: string,
  param: string | null = null,
): void {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  assert.deepEqual(Object.keys(reply.body).sort(), ['error']);
  const { error } = reply.body;
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof error.message, 'string');
  assert.ok(error.message.length > 0);
  assert.equal(error.type, type);
  assert.equal(error.code, code);
  assert.equal(error.param, param);
}

describe('generation end to end: API + two workers + Redis', () => {
  const prefix = testPrefix();
  const keys = new QueueKeys(prefix);
  let redis: Redis;
  let modelDir: string;
  let api: ApiProcess | undefined;
  const workers: WorkerProcess[] = [];
  let alone: EngineAlone | undefined;

  const url = (path: string) => `${api!.url}${path}`;
  const post = <T = unknown>(path: string, body: string | object) => postJson<T>(url(path), body);
  const get = <T = unknown>(path: string) => getJson<T>(url(path));
  const logs = () => [api, ...workers].map((p) => p?.output().slice(-1500) ?? '').join('\n---\n');

  /** Follows a job's events from the start until its final event; the server must then close the stream. */
  async function follow(id: string): Promise<SseEvent[]> {
    const stream = await openSse(url(`/v1/jobs/${id}/events`), { timeoutMs: 20_000 });
    assert.equal(stream.status, 200);
    assert.match(stream.response.headers.get('content-type') ?? '', /^text\/event-stream/);
    try {
      const events = await stream.readUntil((e) => e.event === 'done' || e.event === 'error');
      assert.equal(await stream.next(), null, 'the server closes the stream after the final event');
      return events;
    } finally {
      stream.close();
    }
  }

  before(async () => {
    redis = connectRedis();
    modelDir = await mkdtemp(join(tmpdir(), 'sambay-e2e-model-'));
    await writeModelDir(modelDir, { preset: 'tiny', seed: 0 });
    const workerEnv = {
      QUEUE_PREFIX: prefix,
      MODEL_DIR: modelDir,
      WORKER_MAX_SEQUENCES: String(WORKER_MAX_SEQUENCES),
      STREAM_FLUSH_MS: '5',
      RESULT_TTL_SECONDS: '300',
      SHUTDOWN_GRACE_MS: '300',
    };
    const started = await Promise.allSettled([
      startApiProcess({
        QUEUE_PREFIX: prefix,
        MODEL_DIR: modelDir,
        MAX_BODY_BYTES: String(MAX_BODY_BYTES),
        MAX_QUEUE_DEPTH: String(MAX_QUEUE_DEPTH),
        RESULT_TTL_SECONDS: '300',
      }).then((p) => (api = p)),
      startWorkerProcess(workerEnv).then((w) => workers.push(w)),
      startWorkerProcess(workerEnv).then((w) => workers.push(w)),
      EngineAlone.load(modelDir).then((a) => (alone = a)),
    ]);
    for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
  });

  after(async () => {
    // Every job has ended by now, so a clean SIGTERM exit is expected of each process.
    const exits = await Promise.all([api?.stop(), ...workers.map((w) => w.stop())]);
    await alone?.close();
    await deleteKeys(redis, prefix);
    await redis.quit();
    if (modelDir) await rm(modelDir, { recursive: true, force: true });
    assert.deepEqual(
      exits,
      exits.map(() => 0),
      `exit codes after SIGTERM:\n${logs()}`,
    );
  });

  test('a seeded batch streams over SSE on both workers, and every text equals the engine alone', async () => {
    const jobs: JobBody[] = [
      { prompt: 'Once upon a time', max_tokens: 400, temperature: 0.8, top_p: 1, top_k: 0, seed: 5, stop: [] },
      { prompt: 'The quick brown fox', max_tokens: 200, temperature: 1.0, top_p: 1, top_k: 20, seed: 2, stop: [] },
      { prompt: 'Hello, world', max_tokens: 300, temperature: 0.6, top_p: 0.9, top_k: 0, seed: 4, stop: [] },
      { prompt: 'Greedy', max_tokens: 250, temperature: 0, top_p: 1, top_k: 0, seed: 9, stop: [] },
    ];
    // A stop string the third job really meets: two alphanumerics first seen after its 20th character.
    const unstopped = await alone!.run(jobs[2]!);
    const stop = [...unstopped.text.matchAll(/[A-Za-z0-9]{2}/g)].find(
      (m) => m.index >= 20 && unstopped.text.indexOf(m[0]) === m.index,
    );
    assert.ok(stop, `no usable stop string in ${JSON.stringify(unstopped.text)}`);
    jobs[2]!.stop = [stop[0]];
    const expected = await Promise.all(jobs.map((job) => alone!.run(job)));
    assert.equal(expected[2]!.reason, 'stop_sequence', 'the stop string ends the third job');
    assert.ok(new Set(expected.map((e) => e.text)).size === jobs.length, 'the jobs differ, so a mix-up would show');

    const submitted = await post<BatchAccepted>('/v1/jobs', { jobs });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const batchId: string = submitted.body.batch_id;
    const ids: string[] = submitted.body.jobs.map((j: { id: string }) => j.id);
    assert.equal(ids.length, jobs.length);

    // Which worker holds each job: BullMQ's lock value is `<worker id>:<n>`, set while the job is active.
    const holders = new Map(ids.map((id) => [id, new Set<string>()]));
    const watching = { on: true };
    const watch = (async () => {
      while (watching.on) {
        const locks = await Promise.all(ids.map((id) => redis.get(`${keys.bullPrefix}:${keys.queueName}:${id}:lock`)));
        locks.forEach((lock, i) => lock && holders.get(ids[i]!)!.add(lock.slice(0, lock.lastIndexOf(':'))));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    let streams: SseEvent[][];
    try {
      streams = await Promise.all(ids.map((id) => follow(id)));
    } finally {
      watching.on = false;
      await watch;
    }

    for (const [i, id] of ids.entries()) {
      const events = streams[i]!;
      const want = expected[i]!;
      const what = `job ${i} (${jobs[i]!.prompt})`;
      assertIdsIncrease(events);
      assert.deepEqual(
        parse(events[0]!),
        { type: 'status', status: 'queued' },
        `${what}: a subscriber from the start sees queued first`,
      );
      assert.ok(
        events.some((e) => e.data === JSON.stringify({ type: 'status', status: 'running' })),
        `${what}: a running status`,
      );
      const done = lastDone(events);
      assert.equal(done.status, 'completed');
      assert.deepEqual(contiguousTokens(events), want.tokenIds, `${what}: the same tokens as the engine alone`);
      assert.equal(streamedText(events), done.result.text, `${what}: the streamed chunks make up the final text`);
      assert.equal(done.result.text, want.text, `${what}: the same text as the engine alone`);
      assert.equal(done.result.finish_reason, want.reason);
      const usage = {
        prompt_tokens: want.promptTokens,
        completion_tokens: want.generatedTokens,
        total_tokens: want.promptTokens + want.generatedTokens,
      };
      assert.deepEqual(done.result.usage, usage);
      if (want.generatedTokens > 40)
        assert.ok(tokenChunks(events).length > 1, `${what}: tokens arrive in several chunks`);

      const view = await get<JobView>(`/v1/jobs/${id}`);
      assert.equal(view.status, 200);
      const job = view.body;
      assert.equal(job.id, id);
      assert.equal(job.status, 'completed');
      assert.equal(job.text, want.text);
      assert.equal(job.finish_reason, want.reason);
      assert.deepEqual(job.usage, usage);
      assert.equal(job.batch_id, batchId);
      assert.equal(job.seed, jobs[i]!.seed);
      assert.equal(job.queue_position, null);
      assert.equal(job.progress.generated_tokens, want.generatedTokens);
      assert.equal(job.progress.max_tokens, jobs[i]!.max_tokens);
      const { queue_ms, time_to_first_token_ms, total_ms } = job.timings;
      assert.ok(queue_ms >= 0 && typeof time_to_first_token_ms === 'number', JSON.stringify(job.timings));
      assert.ok(time_to_first_token_ms >= queue_ms && total_ms >= time_to_first_token_ms, JSON.stringify(job.timings));
      assert.ok(total_ms < 60_000, JSON.stringify(job.timings));
    }

    const workerIds = new Set([...holders.values()].flatMap((h) => [...h]));
    for (const [id, held] of holders)
      assert.equal(held.size, 1, `${id} ran on one worker, in one attempt (seen: ${[...held].join(',')})`);
    assert.equal(workerIds.size, 2, 'both worker processes took jobs of the batch');

    const batch = await get<BatchView>(`/v1/batches/${batchId}`);
    assert.equal(batch.status, 200);
    assert.equal(batch.body.id, batchId);
    assert.deepEqual(batch.body.counts, {
      total: 4,
      queued: 0,
      running: 0,
      completed: 4,
      failed: 0,
      cancelled: 0,
      expired: 0,
    });
    assert.deepEqual(
      batch.body.jobs.map((j: { id: string }) => j.id),
      ids,
    );
    assert.deepEqual(
      batch.body.jobs.map((j: { status: string }) => j.status),
      ids.map(() => 'completed'),
    );
  });

  test('an SSE stream dropped mid-generation resumes from Last-Event-ID with no gap and no repeat', async () => {
    const body: JobBody = {
      prompt: 'SambaY streams',
      max_tokens: 1200,
      temperature: 1.2,
      top_p: 0.95,
      top_k: 40,
      seed: 1,
      stop: [],
    };
    const submitted = await post<JobAccepted>('/v1/jobs', body);
    assert.equal(submitted.status, 202);
    const id: string = submitted.body.id;

    // First connection: leave after a few chunks, as a client whose network drops.
    const first = await openSse(url(`/v1/jobs/${id}/events`));
    let chunks = 0;
    const seen = await first.readUntil((e) => e.event === 'tokens' && ++chunks === 3);
    first.close();
    assert.equal(tokenChunks(seen).length, 3, `three chunks before the drop:\n${logs()}`);
    assert.ok(!seen.some((e) => e.event === 'done'));
    const lastSeen = first.lastEventId;
    assert.equal(lastSeen, seen.at(-1)!.id);
    assert.equal((await get<JobView>(`/v1/jobs/${id}`)).body.status, 'running', 'the drop happened mid-generation');

    const second = await openSse(url(`/v1/jobs/${id}/events`), {
      headers: { 'Last-Event-ID': lastSeen! },
      timeoutMs: 20_000,
    });
    assert.equal(second.status, 200);
    const rest = await second.readUntil((e) => e.event === 'done' || e.event === 'error');
    assert.equal(await second.next(), null, 'the server closes the stream after the final event');
    second.close();
    assert.ok(tokenChunks(rest).length > 0, 'tokens produced after the reconnect arrive on the new connection');
    assert.ok(!rest.some((e) => e.id === lastSeen), 'the resumed stream starts after Last-Event-ID');

    const union = [...seen, ...rest];
    assertIdsIncrease(union);
    const done = lastDone(union);
    assert.equal(done.status, 'completed');
    const tokenIds = contiguousTokens(union);
    assert.equal(
      tokenIds.length,
      done.result.usage.completion_tokens,
      'every generated token was delivered exactly once',
    );
    // Progress events (about one a second) count up towards this job's max_tokens.
    const progress = union.map(parse).flatMap((e) => (e.type === 'progress' ? [e] : []));
    for (const [i, p] of progress.entries()) {
      assert.equal(p.max_tokens, body.max_tokens);
      assert.ok(
        p.generated_tokens >= (progress[i - 1]?.generated_tokens ?? 1) && p.generated_tokens <= tokenIds.length,
        JSON.stringify(p),
      );
    }
    assert.equal(streamedText(union), done.result.text);
    assert.deepEqual(union, await follow(id), 'both connections together are exactly the whole stream');

    const want = await alone!.run(body);
    assert.equal(want.reason, 'length', 'the engine alone runs this job to max_tokens (else pick another seed)');
    assert.deepEqual(tokenIds, want.tokenIds);
    assert.equal(done.result.text, want.text);
    assert.equal((await get<JobView>(`/v1/jobs/${id}`)).body.text, want.text);
  });

  test('cancelling a running job ends its stream within a couple of seconds, far short of max_tokens', async () => {
    const body: JobBody = {
      prompt: 'Greedy',
      max_tokens: 20_000,
      temperature: 0,
      top_p: 1,
      top_k: 0,
      seed: 3,
      stop: [],
      // Greedy decoding may reach EOS within a second, which would race the cancel.
      ignore_eos: true,
    };
    const submitted = await post<JobAccepted>('/v1/jobs', body);
    assert.equal(submitted.status, 202);
    const id: string = submitted.body.id;
    const stream = await openSse(url(`/v1/jobs/${id}/events`), { timeoutMs: 20_000 });
    let events: SseEvent[];
    let cancelledAt: number;
    try {
      let chunks = 0;
      events = await stream.readUntil((e) => e.event === 'tokens' && ++chunks === 2);
      assert.equal(tokenChunks(events).length, 2, `tokens before the cancel:\n${logs()}`);
      assert.equal((await get<JobView>(`/v1/jobs/${id}`)).body.status, 'running');

      cancelledAt = Date.now();
      const cancel = await post<CancelAccepted>(`/v1/jobs/${id}/cancel`, {});
      assert.equal(cancel.status, 202, JSON.stringify(cancel.body));
      assert.equal(cancel.body.id, id);
      events.push(...(await stream.readUntil((e) => e.event === 'done' || e.event === 'error')));
      const stoppedMs = Date.now() - cancelledAt;
      assert.ok(stoppedMs < 2000, `the final event came ${stoppedMs} ms after the cancel`);
      assert.equal(await stream.next(), null, 'the server closes the stream after the final event');
    } finally {
      stream.close();
    }

    assertIdsIncrease(events);
    const done = lastDone(events);
    assert.equal(done.status, 'cancelled');
    assert.equal(done.result.finish_reason, 'cancelled');
    const tokenIds = contiguousTokens(events);
    assert.equal(done.result.usage.completion_tokens, tokenIds.length);
    assert.ok(tokenIds.length < body.max_tokens / 10, `stopped after ${tokenIds.length} of ${body.max_tokens} tokens`);
    assert.equal(streamedText(events), done.result.text);

    const job = (await get<JobView>(`/v1/jobs/${id}`)).body;
    assert.equal(job.status, 'cancelled');
    assert.equal(job.finish_reason, 'cancelled');
    assert.equal(job.text, done.result.text);
    assert.equal(job.usage?.completion_tokens, tokenIds.length, 'no token was generated after the final event');
    // What it produced before stopping is the engine's own output, cut short.
    const want = await alone!.run({ ...body, max_tokens: tokenIds.length });
    assert.deepEqual(tokenIds, want.tokenIds);
    assert.equal(done.result.text, want.text);

    assertError(await post<ErrorBody>(`/v1/jobs/${id}/cancel`, {}), 409, 'conflict', 'job_finished');
  });

  test('each kind of bad request gets its documented error envelope', async () => {
    assertError(await post<ErrorBody>('/v1/jobs', '{"prompt": "hi",'), 400, 'invalid_request_error', 'invalid_json');

    const invalid = await post<ErrorBody>('/v1/jobs', {
      jobs: [{ prompt: 'fine' }, { prompt: 'bad', temperature: -1 }],
    });
    assertError(invalid, 422, 'invalid_request_error', 'invalid_field', 'jobs[1].temperature');
    assert.match(invalid.body.error.message, /`jobs\[1\]\.temperature`/);
    assertError(
      await post<ErrorBody>('/v1/jobs', { prompt: 'x', max_tokens: 0 }),
      422,
      'invalid_request_error',
      'invalid_field',
      'max_tokens',
    );

    const unknownJob = 'job_00000000-0000-4000-8000-000000000000';
    assertError(await get<ErrorBody>(`/v1/jobs/${unknownJob}`), 404, 'not_found', 'job_not_found', 'id');
    assertError(await get<ErrorBody>(`/v1/jobs/${unknownJob}/events`), 404, 'not_found', 'job_not_found', 'id');
    assertError(await post<ErrorBody>(`/v1/jobs/${unknownJob}/cancel`, {}), 404, 'not_found', 'job_not_found', 'id');
    assertError(
      await get<ErrorBody>('/v1/batches/batch_00000000-0000-4000-8000-000000000000'),
      404,
      'not_found',
      'batch_not_found',
      'id',
    );

    assertError(
      await post<ErrorBody>('/v1/jobs', { prompt: 'x'.repeat(MAX_BODY_BYTES) }),
      413,
      'invalid_request_error',
      'body_too_large',
    );

    // One more job than the queue may hold, as one batch: refused whole.
    const flood = Array.from({ length: MAX_QUEUE_DEPTH + 1 }, (_, i) => ({ prompt: `flood ${i}`, max_tokens: 1 }));
    assertError(await post<ErrorBody>('/v1/jobs', { jobs: flood }), 429, 'overloaded', 'queue_full');
    assert.equal(
      await redis.zcard(`${keys.bullPrefix}:${keys.queueName}:prioritized`),
      0,
      'refused requests enqueue nothing',
    );
  });
});
