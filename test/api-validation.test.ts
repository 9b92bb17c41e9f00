import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { encodeStreamEvent, QueueKeys } from '@sambay/protocol';
import { startApiProcess, type ApiProcess } from './helpers/api-process.js';
import { connectRedis, deleteKeys, testPrefix } from './helpers/redis.js';

// The API runs as a built process with no worker, so every job stays queued unless a test moves it.

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

interface SseEvent {
  id: string | null;
  event: string | null;
  data: unknown;
}

interface SseRead {
  events: SseEvent[];
  comments: string[];
  /** True when the server ended the stream (rather than the reader stopping). */
  ended: boolean;
}

const JOB_ID = /^job_[0-9a-f-]{36}$/;

async function post(url: string, body: string | object, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as any };
}

/** Parses SSE frames: blank-line separated, `id:`/`event:`/`data:` lines, `:` comments. */
function parseFrames(text: string, out: SseRead): string {
  const frames = text.split('\n\n');
  const rest = frames.pop()!;
  for (const frame of frames) {
    const event: SseEvent = { id: null, event: null, data: null };
    let isEvent = false;
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) out.comments.push(line.slice(1).trim());
      else if (line.startsWith('id: ')) event.id = line.slice(4);
      else if (line.startsWith('event: ')) event.event = line.slice(7);
      else if (line.startsWith('data: ')) {
        event.data = JSON.parse(line.slice(6));
        isEvent = true;
      }
    }
    if (isEvent) out.events.push(event);
  }
  return rest;
}

/**
 * Reads an SSE response until the server closes it, `until` holds, or `timeoutMs` passes.
 * `onOpen` runs once the response headers arrived (the stream is being followed).
 */
async function readSse(
  url: string,
  options: {
    headers?: Record<string, string>;
    timeoutMs?: number;
    until?: (read: SseRead) => boolean;
    onOpen?: () => Promise<void>;
  } = {},
): Promise<SseRead & { status: number; contentType: string | null }> {
  const abort = new AbortController();
  const timer = setTimeout(() => {
    abort.abort();
  }, options.timeoutMs ?? 5000);
  const res = await fetch(url, { headers: options.headers, signal: abort.signal });
  const read: SseRead = { events: [], comments: [], ended: false };
  try {
    if (options.onOpen) await options.onOpen();
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        read.ended = true;
        break;
      }
      buffer = parseFrames(buffer + decoder.decode(value, { stream: true }), read);
      if (options.until?.(read)) break;
    }
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return { ...read, status: res.status, contentType: res.headers.get('content-type') };
}

async function makeModelDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'api-model-'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'phi4flash', _name_or_path: 'test-tiny' }));
  return dir;
}

describe('API against Redis, no worker', () => {
  const prefix = testPrefix();
  const keys = new QueueKeys(prefix);
  let api: ApiProcess;
  let redis: Redis;
  let modelDir: string;

  before(async () => {
    redis = connectRedis();
    modelDir = await makeModelDir();
    api = await startApiProcess({
      QUEUE_PREFIX: prefix,
      MODEL_DIR: modelDir,
      MAX_PROMPT_CHARS: '100',
      MAX_TOKENS_LIMIT: '512',
      MAX_BATCH_JOBS: '4',
      MAX_BODY_BYTES: '4096',
      SSE_HEARTBEAT_MS: '100',
    });
  });

  after(async () => {
    const code = await api.stop();
    assert.equal(code, 0, `api exit code after SIGTERM:\n${api.output()}`);
    await deleteKeys(redis, prefix);
    redis.disconnect();
    await rm(modelDir, { recursive: true, force: true });
  });

  test('healthz and readyz report the process, Redis and the model', async () => {
    assert.deepEqual((await get(`${api.url}/healthz`)).body, { status: 'ok' });
    const ready = await get(`${api.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ready');
    assert.deepEqual(ready.body.model, { dir: modelDir, name: 'test-tiny', type: 'phi4flash' });
  });

  test('malformed JSON is 400 invalid_json', async () => {
    const res = await post(`${api.url}/v1/jobs`, '{"prompt": "hi",');
    assert.equal(res.status, 400);
    assert.deepEqual(res.body, {
      error: {
        message: 'the request body is not valid JSON',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_json',
      },
    });
  });

  test('a body over MAX_BODY_BYTES is 413', async () => {
    const res = await post(`${api.url}/v1/jobs`, { prompt: 'x'.repeat(5000) });
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, 'body_too_large');
    assert.equal(res.body.error.type, 'invalid_request_error');
  });

  const invalid: [string, unknown, string | null, RegExp?][] = [
    ['missing prompt', {}, 'prompt'],
    ['empty prompt', { prompt: '' }, 'prompt'],
    ['prompt over MAX_PROMPT_CHARS', { prompt: 'p'.repeat(101) }, 'prompt', /at most 100 characters/],
    ['max_tokens 0', { prompt: 'a', max_tokens: 0 }, 'max_tokens'],
    ['max_tokens over MAX_TOKENS_LIMIT', { prompt: 'a', max_tokens: 513 }, 'max_tokens', /<= 512/],
    ['fractional max_tokens', { prompt: 'a', max_tokens: 1.5 }, 'max_tokens'],
    ['negative temperature', { prompt: 'a', temperature: -0.1 }, 'temperature'],
    ['string temperature', { prompt: 'a', temperature: 'hot' }, 'temperature'],
    ['top_p 0', { prompt: 'a', top_p: 0 }, 'top_p', /^`top_p` must be > 0 and <= 1$/],
    ['top_p over 1', { prompt: 'a', top_p: 1.01 }, 'top_p'],
    ['negative top_k', { prompt: 'a', top_k: -1 }, 'top_k'],
    ['negative seed', { prompt: 'a', seed: -1 }, 'seed'],
    ['empty stop string', { prompt: 'a', stop: ['ok', ''] }, 'stop[1]'],
    ['numeric stop', { prompt: 'a', stop: 5 }, 'stop'],
    ['priority out of range', { prompt: 'a', priority: 1001 }, 'priority'],
    ['non-string metadata value', { prompt: 'a', metadata: { user: 1 } }, 'metadata.user'],
    ['unknown field', { prompt: 'a', temprature: 0.5 }, 'temprature', /not a known field/],
    [
      'batch job field',
      { jobs: [{ prompt: 'a' }, { prompt: 'b' }, { prompt: 'c', temperature: -1 }] },
      'jobs[2].temperature',
    ],
    ['batch job missing prompt', { jobs: [{ prompt: 'a' }, { max_tokens: 3 }] }, 'jobs[1].prompt'],
    ['empty batch', { jobs: [] }, 'jobs'],
    ['batch over MAX_BATCH_JOBS', { jobs: Array.from({ length: 5 }, () => ({ prompt: 'a' })) }, 'jobs', /1 to 4 jobs/],
    ['non-object body', [1, 2], null],
  ];
  for (const [name, body, param, message] of invalid) {
    test(`422 names the field: ${name}`, async () => {
      const res = await post(`${api.url}/v1/jobs`, body as object);
      assert.equal(res.status, 422, JSON.stringify(res.body));
      const { error } = res.body as ErrorBody;
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.code, 'invalid_field');
      assert.equal(error.param, param);
      if (param !== null) assert.ok(error.message.includes(`\`${param}\``), error.message);
      if (message) assert.match(error.message, message);
    });
  }

  test('invalid submissions enqueue nothing', async () => {
    const waiting = await redis.zcard(`${keys.bullPrefix}:${keys.queueName}:prioritized`);
    await post(`${api.url}/v1/jobs`, { jobs: [{ prompt: 'a' }, { prompt: 'b', top_p: 7 }] });
    assert.equal(await redis.zcard(`${keys.bullPrefix}:${keys.queueName}:prioritized`), waiting);
  });

  test('404 for unknown jobs, batches and routes', async () => {
    const unknownJob = 'job_00000000-0000-4000-8000-000000000000';
    const cases: [Promise<{ status: number; body: any }>, string][] = [
      [get(`${api.url}/v1/jobs/${unknownJob}`), 'job_not_found'],
      [get(`${api.url}/v1/jobs/not-an-id`), 'job_not_found'],
      [get(`${api.url}/v1/jobs/${unknownJob}/events`), 'job_not_found'],
      [post(`${api.url}/v1/jobs/${unknownJob}/cancel`, {}), 'job_not_found'],
      [get(`${api.url}/v1/batches/batch_00000000-0000-4000-8000-000000000000`), 'batch_not_found'],
      [get(`${api.url}/v1/nothing-here`), 'route_not_found'],
    ];
    for (const [request, code] of cases) {
      const res = await request;
      assert.equal(res.status, 404);
      assert.equal(res.body.error.type, 'not_found');
      assert.equal(res.body.error.code, code);
    }
  });

  test('a single job is accepted and polls as queued with defaults', async () => {
    const res = await post(`${api.url}/v1/jobs`, { prompt: 'hello', metadata: { user: 'u1' } });
    assert.equal(res.status, 202);
    assert.equal(res.body.status, 'queued');
    assert.match(res.body.id, JOB_ID);
    assert.equal(res.headers.get('location'), `/v1/jobs/${res.body.id}`);
    const job = (await get(`${api.url}/v1/jobs/${res.body.id}`)).body;
    assert.equal(job.status, 'queued');
    assert.equal(typeof job.queue_position, 'number');
    assert.deepEqual(job.progress, { generated_tokens: 0, max_tokens: 256, tokens_per_second: null });
    assert.equal(job.text, '');
    assert.equal(job.finish_reason, null);
    assert.deepEqual(job.metadata, { user: 'u1' });
    assert.equal(job.batch_id, null);
    assert.equal(typeof job.seed, 'number', 'a seed is drawn when none is given');
    assert.ok(Date.parse(job.created_at) <= Date.now());
    // The stream already holds the queued event, so late subscribers see it.
    const entries = await redis.xrange(keys.jobStream(res.body.id), '-', '+');
    assert.equal(entries.length, 1);
    assert.deepEqual(JSON.parse(entries[0]![1][1]!), { type: 'status', status: 'queued' });
  });

  test('queue_position follows priority (higher first), FIFO within a priority', async () => {
    const submit = async (priority: number) =>
      (await post(`${api.url}/v1/jobs`, { prompt: 'p', priority })).body.id as string;
    const low = await submit(-5);
    const first = await submit(100);
    const second = await submit(100);
    const position = async (id: string) => (await get(`${api.url}/v1/jobs/${id}`)).body.queue_position as number;
    const [p1, p2, pLow] = [await position(first), await position(second), await position(low)];
    assert.equal(p2, p1 + 1);
    assert.ok(pLow > p2, `low priority at ${pLow}, after ${p2}`);
    assert.equal(p1, 0, 'the highest priority job is next even though others were queued before it');
  });

  test('a batch is accepted whole and its counts follow cancellation', async () => {
    const res = await post(`${api.url}/v1/jobs`, {
      jobs: [
        { prompt: 'a', seed: 1 },
        { prompt: 'b', seed: 2 },
        { prompt: 'c', seed: 3 },
      ],
    });
    assert.equal(res.status, 202);
    assert.match(res.body.batch_id, /^batch_[0-9a-f-]{36}$/);
    const ids = (res.body.jobs as { id: string }[]).map((j) => j.id);
    assert.equal(ids.length, 3);
    for (const id of ids) assert.match(id, JOB_ID);

    const batch = (await get(`${api.url}/v1/batches/${res.body.batch_id}`)).body;
    assert.equal(batch.id, res.body.batch_id);
    assert.deepEqual(
      batch.jobs.map((j: { id: string }) => j.id),
      ids,
    );
    assert.deepEqual(
      batch.jobs.map((j: { seed: number }) => j.seed),
      [1, 2, 3],
    );
    assert.deepEqual(batch.counts, {
      total: 3,
      queued: 3,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
      expired: 0,
    });
    const member = (await get(`${api.url}/v1/jobs/${ids[1]}`)).body;
    assert.equal(member.batch_id, res.body.batch_id);

    assert.equal((await post(`${api.url}/v1/jobs/${ids[0]}/cancel`, {})).status, 202);
    const after = (await get(`${api.url}/v1/batches/${res.body.batch_id}`)).body;
    assert.equal(after.counts.cancelled, 1);
    assert.equal(after.counts.queued, 2);
  });

  test('cancelling a queued job finishes it: poll, 409 on repeat, SSE replays queued then done and closes', async () => {
    const { id } = (await post(`${api.url}/v1/jobs`, { prompt: 'to cancel' })).body;
    const subscriber = connectRedis();
    const published: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => published.push(message));
    await subscriber.subscribe(keys.cancelChannel);
    const cancel = await post(`${api.url}/v1/jobs/${id}/cancel`, {});
    for (let i = 0; i < 40 && published.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    subscriber.disconnect();
    assert.deepEqual(published, [id], 'every worker hears the bare job id on the cancel channel');
    assert.equal(cancel.status, 202);
    assert.deepEqual(cancel.body, { id, status: 'cancelled' });
    assert.equal(await redis.exists(keys.jobCancelled(id)), 1, 'the marker a later worker would check');

    const job = (await get(`${api.url}/v1/jobs/${id}`)).body;
    assert.equal(job.status, 'cancelled');
    assert.equal(job.queue_position, null);
    assert.equal(job.finish_reason, 'cancelled');
    assert.deepEqual(job.usage, { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });
    assert.ok((await redis.ttl(keys.jobStream(id))) > 0, 'a finished stream expires');

    const again = await post(`${api.url}/v1/jobs/${id}/cancel`, {});
    assert.equal(again.status, 409);
    assert.equal(again.body.error.type, 'conflict');

    const sse = await readSse(`${api.url}/v1/jobs/${id}/events`);
    assert.equal(sse.status, 200);
    assert.match(sse.contentType ?? '', /^text\/event-stream/);
    assert.ok(sse.ended, 'the server closes the stream after the terminal event');
    assert.deepEqual(
      sse.events.map((e) => e.event),
      ['status', 'done'],
    );
    assert.deepEqual(sse.events[0]!.data, { type: 'status', status: 'queued' });
    const done = sse.events[1]!.data as { status: string; result: { finish_reason: string } };
    assert.equal(done.status, 'cancelled');
    assert.equal(done.result.finish_reason, 'cancelled');
    for (const e of sse.events) assert.match(e.id ?? '', /^\d+-\d+$/);

    // Resuming after the first event (header or query) replays only what came later.
    const byHeader = await readSse(`${api.url}/v1/jobs/${id}/events`, {
      headers: { 'last-event-id': sse.events[0]!.id! },
    });
    assert.deepEqual(byHeader.events, [sse.events[1]]);
    assert.ok(byHeader.ended);
    const byQuery = await readSse(`${api.url}/v1/jobs/${id}/events?last_event_id=${sse.events[0]!.id}`);
    assert.deepEqual(byQuery.events, [sse.events[1]]);

    const bad = await get(`${api.url}/v1/jobs/${id}/events`, { 'last-event-id': 'yesterday' });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.param, 'last_event_id');
  });

  test('SSE follows new events live, with heartbeats, resumes with no gap or repeat, and ends at done', async () => {
    const { id } = (await post(`${api.url}/v1/jobs`, { prompt: 'live' })).body;
    const stream = keys.jobStream(id);
    const chunk = (index: number, text: string) =>
      encodeStreamEvent({ type: 'tokens', index, token_ids: [index], text });

    // First subscriber: sees queued, then a chunk written while it listens (as a worker would), then leaves.
    const first = await readSse(`${api.url}/v1/jobs/${id}/events`, {
      until: (r) => r.events.length >= 2 && r.comments.includes('ping'),
      onOpen: async () => {
        await new Promise((resolve) => setTimeout(resolve, 150));
        await redis.xadd(stream, '*', ...chunk(0, 'Hel'));
      },
    });
    assert.deepEqual(
      first.events.map((e) => e.event),
      ['status', 'tokens'],
    );
    assert.ok(first.comments.includes('ping'), 'heartbeat comments every SSE_HEARTBEAT_MS');
    assert.equal(first.ended, false);

    // While nobody listens, more tokens arrive; the job then ends.
    await redis.xadd(stream, '*', ...chunk(1, 'lo'));
    await redis.xadd(stream, '*', ...chunk(2, '!'));
    const cancel = await post(`${api.url}/v1/jobs/${id}/cancel`, {});
    assert.equal(cancel.body.status, 'cancelled');

    const resumed = await readSse(`${api.url}/v1/jobs/${id}/events`, {
      headers: { 'last-event-id': first.events[1]!.id! },
    });
    assert.ok(resumed.ended);
    assert.deepEqual(
      resumed.events.map((e) => e.event),
      ['tokens', 'tokens', 'done'],
    );
    assert.deepEqual(
      resumed.events.slice(0, 2).map((e) => (e.data as { index: number }).index),
      [1, 2],
    );
    const all = await readSse(`${api.url}/v1/jobs/${id}/events`);
    assert.deepEqual(all.events, [...first.events, ...resumed.events], 'first + resumed = the whole stream');
  });

  test('an SSE client that disconnects releases its Redis connection', async () => {
    const { id } = (await post(`${api.url}/v1/jobs`, { prompt: 'leave' })).body;
    const clients = async () =>
      ((await redis.client('LIST')) as string).split('\n').filter((line) => line.includes('cmd=xread')).length;
    const waitFor = async (done: (n: number) => boolean) => {
      let n = await clients();
      for (let i = 0; i < 40 && !done(n); i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        n = await clients();
      }
      return n;
    };
    const before = await clients();
    let during = 0;
    await readSse(`${api.url}/v1/jobs/${id}/events`, {
      onOpen: async () => {
        during = await waitFor((n) => n > before);
      },
      until: (r) => r.events.length >= 1,
    });
    assert.equal(during, before + 1, 'the open stream holds one blocked XREAD connection');
    const now = await waitFor((n) => n <= before);
    assert.ok(now <= before, `${now} connections blocked in XREAD, ${before} before`);
  });
});

describe('API admission and readiness limits', () => {
  const prefix = testPrefix();
  let api: ApiProcess;
  let redis: Redis;
  /** A job the 429 test got in; the queue is full after it. */
  let acceptedId = '';

  before(async () => {
    redis = connectRedis();
    api = await startApiProcess({
      QUEUE_PREFIX: prefix,
      MAX_QUEUE_DEPTH: '2',
      MODEL_DIR: join(tmpdir(), `no-model-${prefix}`),
    });
  });

  after(async () => {
    await api.stop();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  test('429 overloaded once waiting jobs reach MAX_QUEUE_DEPTH, counting a whole batch', async () => {
    const first = await post(`${api.url}/v1/jobs`, { prompt: 'one' });
    assert.equal(first.status, 202);
    acceptedId = first.body.id;
    const batch = await post(`${api.url}/v1/jobs`, { jobs: [{ prompt: 'a' }, { prompt: 'b' }] });
    assert.equal(batch.status, 429, 'one waiting + a batch of two is over a depth of two');
    assert.equal(batch.body.error.type, 'overloaded');
    assert.equal((await post(`${api.url}/v1/jobs`, { prompt: 'two' })).status, 202);
    const full = await post(`${api.url}/v1/jobs`, { prompt: 'three' });
    assert.equal(full.status, 429);
    assert.deepEqual(Object.keys(full.body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(full.body.error.type, 'overloaded');
  });

  test('readyz is 503 and says why when the model directory has no config.json', async () => {
    const ready = await get(`${api.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.status, 'unavailable');
    assert.equal(ready.body.redis, 'ok');
    assert.ok(
      ready.body.reasons.some((r: string) => r.startsWith('model:')),
      JSON.stringify(ready.body),
    );
  });

  test('SIGTERM ends open SSE streams and exits 0 promptly', async () => {
    assert.ok(acceptedId, 'runs after the 429 test');
    const id = acceptedId;
    let exit: Promise<number | null> | null = null;
    const started = Date.now();
    const sse = await readSse(`${api.url}/v1/jobs/${id}/events`, {
      timeoutMs: 5000,
      until: (r) => {
        exit ??= r.events.length > 0 ? api.stop() : null;
        return false;
      },
    });
    assert.ok(sse.ended, 'the server ended the stream');
    assert.deepEqual(
      sse.events.map((e) => e.event),
      ['status'],
    );
    assert.equal(await exit, 0);
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
  });
});
