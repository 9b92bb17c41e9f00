// The built API process (no worker), with API keys, under a seeded stream of malformed and hostile
// requests over loopback: bad JSON, huge bodies, wrong types, unicode, path junk, bad ids, bad
// Last-Event-IDs, concurrent cancels, SSE connections dropped at once, oversized stop strings,
// junk headers and request lines. Bounded in count and time. No answer is a 5xx, every error is in
// the envelope, no Redis connection is left behind, and every key left under the prefix expires.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import { keysWithoutTtl } from './helpers/key-ttls.js';
import { getAndAbort, rawRequest } from './helpers/raw-http.js';
import { apiConnections } from './helpers/redis-connections.js';
import { waitFor } from './helpers/wait.js';

const KEY = 'fuzz-key-0123456789';
const ADMIN = 'fuzz-admin-0123456789';
const MAX_BODY_BYTES = 65_536;
/** Requests drawn, and a wall-clock bound that ends the run early on a slow machine. */
const ROUNDS = 500;
const DEADLINE_MS = 90_000;

const ctx = useApi({
  API_KEYS: JSON.stringify([
    { key: KEY, name: 'fuzz', requests_per_minute: 1_000_000, max_jobs_in_flight: 40 },
    { key: ADMIN, name: 'fuzz-admin', admin: true, requests_per_minute: 1_000_000 },
    { key: 'fuzz-slow-0123456789', name: 'slow', requests_per_minute: 3 },
  ]),
  MAX_BODY_BYTES: String(MAX_BODY_BYTES),
  MAX_QUEUE_DEPTH: '200',
  SSE_HEARTBEAT_MS: '200',
});

/** Deterministic draws, so a failing run can be replayed. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  return { int, pick };
}
const rand = prng(20_240_611);

interface Answer {
  what: string;
  status: number;
  body: string;
  contentType: string;
}

const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  '🙂'.repeat(50),
  '\ud800',
  '\u202e\u0041',
  'é'.normalize('NFD'),
  '<script>alert(1)</script>',
  "'; DROP TABLE jobs;--",
  '%s%n%x',
  '../../etc/passwd',
  'a'.repeat(10_000),
  '\r\n\r\nHTTP/1.1 200 OK',
];
const NASTY_VALUES: unknown[] = [
  null,
  true,
  -1,
  0,
  1.5,
  1e300,
  -0,
  Number.MAX_SAFE_INTEGER + 2,
  [],
  {},
  [1, 2],
  { $gt: '' },
  ...NASTY_STRINGS,
];
const FIELDS = ['prompt', 'max_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'stop', 'priority', 'metadata'];
const BAD_IDS = [
  'job_',
  'job_00000000-0000-0000-0000-000000000000',
  'JOB_00000000-0000-0000-0000-000000000000',
  'batch_00000000-0000-0000-0000-000000000000',
  '..',
  '%2e%2e',
  '%00',
  '%ff',
  '%c3%28',
  'a'.repeat(3000),
  encodeURIComponent('🙂'),
  '%25',
  'job_%0d%0aX-Injected:1',
];
const BAD_EVENT_IDS = [
  'abc',
  '-1-0',
  '1',
  '1-',
  '-',
  '18446744073709551616-0',
  '0-18446744073709551616',
  '18446744073709551615-18446744073709551615',
  '9999999999999-0',
  '0-0',
  '1-1',
  '9'.repeat(400),
  '1e3-0',
  '0x10-0',
];

const auth = { authorization: `Bearer ${KEY}` };

async function viaFetch(what: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(ctx.url(path), { ...init, signal: AbortSignal.timeout(10_000) });
  return { what, status: res.status, body: await res.text(), contentType: res.headers.get('content-type') ?? '' };
}

async function viaSocket(what: string, head: string, body = ''): Promise<Answer> {
  const reply = await rawRequest(ctx.api.url, head, body);
  return { what, status: reply.status, body: reply.body, contentType: reply.headers['content-type'] ?? '' };
}

/** A valid submission (owned by the fuzz key), kept for the id-based probes. */
async function submitValid(): Promise<string | null> {
  const res = await fetch(ctx.url('/v1/jobs'), {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'fuzz', max_tokens: 4 }),
  });
  return res.status === 202 ? ((await res.json()) as { id: string }).id : null;
}

/** One draw: a short burst of hostile requests of one kind, run concurrently. */
function draw(jobs: string[], finished: string[]): (() => Promise<Answer | null>)[] {
  const job = () => rand.pick(jobs.length > 0 ? jobs : ['job_00000000-0000-0000-0000-000000000000']);
  const post =
    (what: string, body: string, headers: Record<string, string> = {}) =>
    () =>
      viaFetch(what, '/v1/jobs', { method: 'POST', headers: { ...auth, ...headers }, body });
  const kinds: (() => (() => Promise<Answer | null>)[])[] = [
    // Malformed JSON of every sort.
    () => [
      post(
        'bad json',
        rand.pick(['{', '{"prompt":', '[', 'nul', '{"prompt":"a",}', '\u0000', '{"a":1}{"b":2}', "{'prompt':'a'}"]),
      ),
      post('deep json', '['.repeat(5000) + ']'.repeat(5000)),
      post('deep object', '{"prompt":'.repeat(2000) + '"x"' + '}'.repeat(2000)),
      post('huge number', '{"prompt":"a","max_tokens":1' + '0'.repeat(400) + '}'),
      post('non-json type', 'prompt=a', { 'content-type': 'application/x-www-form-urlencoded' }),
    ],
    // Bodies over the limit, and a lying Content-Length.
    () => [
      post('huge body', JSON.stringify({ prompt: 'x'.repeat(MAX_BODY_BYTES * 2) })),
      () =>
        viaSocket('truncated json, raw', `POST /v1/jobs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${KEY}`, '{"pro'),
    ],
    // Wrong types and out-of-range values, field by field.
    () =>
      Array.from({ length: 5 }, () => {
        const body: Record<string, unknown> = { prompt: 'p' };
        body[rand.pick(FIELDS)] = rand.pick(NASTY_VALUES);
        if (rand.int(4) === 0) body[rand.pick(['unknown', '__proto__', 'constructor', '🙂'])] = 1;
        return post('wrong type', JSON.stringify(body));
      }),
    // Batches: empty, too many, mixed good and bad.
    () => [
      post('empty batch', '{"jobs":[]}'),
      post('huge batch', JSON.stringify({ jobs: Array.from({ length: 300 }, () => ({ prompt: 'p' })) })),
      post('mixed batch', JSON.stringify({ jobs: [{ prompt: 'p' }, { prompt: 5 }] })),
      post('batch not list', JSON.stringify({ jobs: { prompt: 'p' } })),
      post('array body', '[{"prompt":"p"}]'),
    ],
    // Unicode prompts (valid or not) and stop strings beyond the bounds.
    () => [
      post('unicode prompt', JSON.stringify({ prompt: rand.pick(NASTY_STRINGS.filter(Boolean)), max_tokens: 2 })),
      post('lone surrogate', '{"prompt":"\\udc00\\ud800","max_tokens":2}'),
      post('long stop', JSON.stringify({ prompt: 'p', stop: 'x'.repeat(257 + rand.int(20_000)) })),
      post('many stops', JSON.stringify({ prompt: 'p', stop: Array.from({ length: 17 + rand.int(40) }, () => 's') })),
      post('stop types', JSON.stringify({ prompt: 'p', stop: rand.pick([[1], [''], [null], '', [[]]]) })),
    ],
    // Junk paths and ids on every route.
    () =>
      Array.from({ length: 6 }, () => {
        const id = rand.pick(BAD_IDS);
        const route = rand.pick([
          `/v1/jobs/${id}`,
          `/v1/jobs/${id}/events`,
          `/v1/jobs/${id}/cancel`,
          `/v1/batches/${id}`,
        ]);
        const method = route.endsWith('/cancel') ? 'POST' : rand.pick(['GET', 'GET', 'PUT', 'DELETE', 'PATCH']);
        return () =>
          viaSocket(
            `path ${method} ${route.slice(0, 60)}`,
            `${method} ${route} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${KEY}`,
          );
      }),
    // Bad Last-Event-IDs on finished and queued jobs, by header and query.
    () =>
      Array.from({ length: 4 }, () => {
        const id = rand.pick(BAD_EVENT_IDS);
        const target = rand.int(2) === 0 && finished.length > 0 ? rand.pick(finished) : job();
        // A valid id on a queued job opens a live stream: the client leaves after 300 ms.
        const signal = AbortSignal.timeout(300);
        return async () => {
          try {
            const res = await fetch(ctx.url(`/v1/jobs/${target}/events?last_event_id=${encodeURIComponent(id)}`), {
              headers: { ...auth, ...(rand.int(2) === 0 ? { 'last-event-id': id } : {}) },
              signal,
            });
            const body = res.status === 200 ? '' : await res.text();
            return {
              what: `last-event-id ${id}`,
              status: res.status,
              body,
              contentType: res.headers.get('content-type') ?? '',
            };
          } catch {
            return null; // our own timeout on an open stream
          }
        };
      }),
    // Many concurrent cancels of one job.
    () => {
      const target = job();
      return Array.from(
        { length: 10 },
        () => () =>
          viaFetch('cancel', `/v1/jobs/${target}/cancel`, {
            method: 'POST',
            headers: auth,
            body: rand.pick(['', '{}', '{', 'null']),
          }),
      );
    },
    // SSE connections dropped before the API answers.
    () =>
      Array.from({ length: 8 }, () => async () => {
        await getAndAbort(ctx.api.url, `/v1/jobs/${job()}/events`, auth);
        return null;
      }),
    // Keys: none, wrong, odd schemes; another key's jobs; a key over its rate.
    () => [
      () => viaFetch('no key', `/v1/jobs/${job()}`),
      () => viaFetch('wrong key', `/v1/jobs/${job()}`, { headers: { authorization: 'Bearer nope' } }),
      () =>
        viaFetch('odd scheme', '/v1/jobs', { method: 'POST', headers: { authorization: `Basic ${KEY}` }, body: '{}' }),
      () => viaFetch('slow key', `/v1/jobs/${job()}`, { headers: { authorization: 'Bearer fuzz-slow-0123456789' } }),
      () => viaFetch('admin', `/v1/jobs/${job()}`, { headers: { authorization: `Bearer ${ADMIN}` } }),
    ],
    // Idempotency-Key junk and reuse with other bodies.
    () => [
      post('idem reuse', JSON.stringify({ prompt: `p${rand.int(3)}`, max_tokens: 2 }), {
        'idempotency-key': 'fuzz-idem',
      }),
      post('idem long', '{"prompt":"p"}', { 'idempotency-key': 'k'.repeat(300) }),
      () =>
        viaSocket(
          'idem bytes',
          `POST /v1/jobs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${KEY}\r\nIdempotency-Key: \u00ff\u00fe`,
          '{"prompt":"p"}',
        ),
    ],
    // Request lines and headers Node's parser refuses.
    () => [
      () => viaSocket('bad request line', 'GET /v1/jobs/x HTTP/9.9\r\nHost: t'),
      () => viaSocket('no version', 'GET /v1/jobs/x\r\nHost: t'),
      () => viaSocket('bad header', 'GET /v1/jobs/x HTTP/1.1\r\nHost: t\r\nBad Header: x'),
      () => viaSocket('huge header', `GET /v1/jobs/x HTTP/1.1\r\nHost: t\r\nX-Junk: ${'j'.repeat(20_000)}`),
      () => viaSocket('control char', 'GET /v1/jobs/\u0001 HTTP/1.1\r\nHost: t'),
      () => viaSocket('bad content-length', 'POST /v1/jobs HTTP/1.1\r\nHost: t\r\nContent-Length: -5'),
    ],
  ];
  return rand.pick(kinds)();
}

function assertEnvelope(answer: Answer): void {
  const where = `${answer.what}: ${answer.status} ${answer.body.slice(0, 300)}`;
  assert.match(answer.contentType, /^application\/json/, where);
  const parsed = JSON.parse(answer.body) as { error?: Record<string, unknown> };
  const error = parsed.error;
  assert.ok(error && typeof error === 'object', where);
  assert.equal(typeof error.message, 'string', where);
  assert.equal(typeof error.type, 'string', where);
  assert.equal(typeof error.code, 'string', where);
  assert.ok(error.param === null || typeof error.param === 'string', where);
  assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type'], where);
}

test('hostile requests: no 5xx, every error in the envelope, no leaked connection, every key expires', async (t) => {
  const jobs: string[] = [];
  for (let i = 0; i < 5; i++) jobs.push((await submitValid())!);
  const finished: string[] = [];
  for (const id of jobs.splice(0, 2)) {
    await fetch(ctx.url(`/v1/jobs/${id}/cancel`), { method: 'POST', headers: auth });
    finished.push(id);
  }
  const connectionsBefore = await apiConnections(ctx.redis, ctx.prefix);

  const started = Date.now();
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let sent = 0;
  for (let round = 0; round < ROUNDS && Date.now() - started < DEADLINE_MS; round++) {
    if (round % 10 === 0) {
      const id = await submitValid();
      if (id) jobs.push(id);
    }
    const answers = await Promise.all(draw(jobs, finished).map((probe) => probe()));
    for (const answer of answers) {
      sent += 1;
      if (answer === null) continue;
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status >= 500 || answer.status === 0)
        failures.push(`${answer.what}: ${answer.status} ${answer.body.slice(0, 200)}`);
      else if (answer.status >= 400) {
        try {
          assertEnvelope(answer);
        } catch (error) {
          failures.push((error as Error).message.split('\n')[0]!);
        }
      }
    }
  }
  const fiveXx = [...statuses].filter(([s]) => s >= 500).reduce((n, [, c]) => n + c, 0);
  const summary = `fuzz: ${sent} requests in ${Date.now() - started} ms, ${fiveXx} 5xx; statuses ${JSON.stringify(Object.fromEntries(statuses))}`;
  t.diagnostic(summary);
  assert.deepEqual(failures, []);

  // The API is still up, and every Redis connection an SSE stream took has been given back.
  assert.equal((await fetch(ctx.url('/healthz'))).status, 200);
  await waitFor(
    'the API to hold no more Redis connections than before',
    async () => (await apiConnections(ctx.redis, ctx.prefix)) <= connectionsBefore,
    { timeoutMs: 10_000, intervalMs: 200 },
  );
  assert.deepEqual(await keysWithoutTtl(ctx.redis, ctx.keys), []);
});
