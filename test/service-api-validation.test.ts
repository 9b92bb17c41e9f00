// The built API process (no worker): requests it refuses, and the error envelope it refuses them
// with (400 malformed JSON, 413 too large, 422 invalid field, 404 unknown job/batch/route).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import type { ErrorBody } from './helpers/api-types.js';
import type { HttpReply } from './helpers/http.js';

const ctx = useApi({
  MAX_PROMPT_CHARS: '100',
  MAX_TOKENS_LIMIT: '512',
  MAX_BATCH_JOBS: '4',
  MAX_BODY_BYTES: '4096',
});

test('malformed JSON is 400 invalid_json', async () => {
  const res = await ctx.post<ErrorBody>('/v1/jobs', '{"prompt": "hi",');
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
  const res = await ctx.post<ErrorBody>('/v1/jobs', { prompt: 'x'.repeat(5000) });
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
    const res = await ctx.post<ErrorBody>('/v1/jobs', body as object);
    assert.equal(res.status, 422, JSON.stringify(res.body));
    const { error } = res.body;
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.code, 'invalid_field');
    assert.equal(error.param, param);
    if (param !== null) assert.ok(error.message.includes(`\`${param}\``), error.message);
    if (message) assert.match(error.message, message);
  });
}

test('invalid submissions enqueue nothing', async () => {
  const { keys, redis } = ctx;
  const waiting = await redis.zcard(`${keys.bullPrefix}:${keys.queueName}:prioritized`);
  await ctx.post('/v1/jobs', { jobs: [{ prompt: 'a' }, { prompt: 'b', top_p: 7 }] });
  assert.equal(await redis.zcard(`${keys.bullPrefix}:${keys.queueName}:prioritized`), waiting);
});

test('404 for unknown jobs, batches and routes', async () => {
  const unknownJob = 'job_00000000-0000-4000-8000-000000000000';
  const cases: [Promise<HttpReply<ErrorBody>>, string][] = [
    [ctx.get<ErrorBody>(`/v1/jobs/${unknownJob}`), 'job_not_found'],
    [ctx.get<ErrorBody>('/v1/jobs/not-an-id'), 'job_not_found'],
    [ctx.get<ErrorBody>(`/v1/jobs/${unknownJob}/events`), 'job_not_found'],
    [ctx.post<ErrorBody>(`/v1/jobs/${unknownJob}/cancel`, {}), 'job_not_found'],
    [ctx.get<ErrorBody>('/v1/batches/batch_00000000-0000-4000-8000-000000000000'), 'batch_not_found'],
    [ctx.get<ErrorBody>('/v1/nothing-here'), 'route_not_found'],
  ];
  for (const [request, code] of cases) {
    const res = await request;
    assert.equal(res.status, 404);
    assert.equal(res.body.error.type, 'not_found');
    assert.equal(res.body.error.code, code);
  }
});
