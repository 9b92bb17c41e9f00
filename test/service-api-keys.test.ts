// The built API process (no worker) with API keys from API_KEYS_FILE and API_KEYS: 401 without a
// valid key, jobs and batches (native and Batch API) and Batch API files visible only to the key that
// made them (and admins), per-key limits on requests per minute and jobs in flight (429 with
// Retry-After); open local mode without keys.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { JobStateField } from '@sambay/protocol';
import { useApi } from './helpers/api-fixture.js';
import { startApiProcess } from './helpers/api-process.js';
import type { BatchAccepted, CancelAccepted, ErrorBody, JobAccepted } from './helpers/api-types.js';
import type { HttpReply } from './helpers/http.js';
import { waitFor } from './helpers/wait.js';

const KEYS = {
  alice: 'alice-key-0123456789',
  bob: 'bob-key-0123456789abc',
  admin: 'admin-key-0123456789',
  slow: 'slow-key-0123456789ab',
};
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

const keysDir = await mkdtemp(join(tmpdir(), 'api-keys-'));
const keysFile = join(keysDir, 'keys.json');
await writeFile(
  keysFile,
  JSON.stringify([
    { key: KEYS.alice, name: 'alice', max_jobs_in_flight: 3 },
    { key: KEYS.admin, name: 'ops', admin: true },
  ]),
);
after(() => rm(keysDir, { recursive: true, force: true }));

function assertError(reply: HttpReply<unknown>, status: number, code: string): ErrorBody['error'] {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  const { error } = reply.body as ErrorBody;
  assert.equal(error.code, code);
  assert.equal(typeof error.message, 'string');
  return error;
}

describe('with keys configured', () => {
  const ctx = useApi({
    FILES_DIR: join(keysDir, 'files'),
    SERVED_MODEL_NAME: 'keys-test',
    API_KEYS_FILE: keysFile,
    API_KEYS: JSON.stringify([
      { key: KEYS.bob, name: 'bob' },
      { key: KEYS.slow, name: 'slow', requests_per_minute: 5 },
    ]),
  });

  test('health probes need no key; /v1 without a valid key is 401 in the envelope', async () => {
    assert.equal((await ctx.get('/healthz')).status, 200);
    assert.notEqual((await ctx.get('/readyz')).status, 401);
    const none = await ctx.post('/v1/jobs', { prompt: 'p' });
    assertError(none, 401, 'missing_api_key');
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assertError(await ctx.get('/v1/jobs/job_x', auth('not-a-key')), 401, 'invalid_api_key');
    assertError(await ctx.get('/v1/jobs/job_x', { authorization: `Basic ${KEYS.alice}` }), 401, 'invalid_api_key');
    assert.match(ctx.api.output(), /"msg":"API keys loaded"/);
    assert.doesNotMatch(ctx.api.output(), /open local mode/);
  });

  test('a job and a batch are seen only by their key and by admin keys; others get 404', async () => {
    const job = await ctx.post<JobAccepted>('/v1/jobs', { prompt: 'alice' }, auth(KEYS.alice));
    assert.equal(job.status, 202);
    const id = job.body.id;
    assert.equal(await ctx.redis.hget(ctx.keys.jobState(id), JobStateField.owner), 'alice');
    const batch = await ctx.post<BatchAccepted>('/v1/jobs', { jobs: [{ prompt: 'b' }] }, auth(KEYS.alice));
    assert.equal(batch.status, 202);

    assert.equal((await ctx.get(`/v1/jobs/${id}`, auth(KEYS.alice))).status, 200);
    assert.equal((await ctx.get(`/v1/jobs/${id}`, auth(KEYS.admin))).status, 200);
    assert.equal((await ctx.get(`/v1/batches/${batch.body.batch_id}`, auth(KEYS.admin))).status, 200);
    assertError(await ctx.get(`/v1/jobs/${id}`, auth(KEYS.bob)), 404, 'job_not_found');
    assertError(await ctx.get(`/v1/jobs/${id}/events`, auth(KEYS.bob)), 404, 'job_not_found');
    assertError(await ctx.post(`/v1/jobs/${id}/cancel`, {}, auth(KEYS.bob)), 404, 'job_not_found');
    assertError(await ctx.get(`/v1/batches/${batch.body.batch_id}`, auth(KEYS.bob)), 404, 'batch_not_found');

    const cancel = await ctx.post<CancelAccepted>(`/v1/jobs/${id}/cancel`, {}, auth(KEYS.admin));
    assert.deepEqual(cancel.body, { id, status: 'cancelled' });
  });

  test('max_jobs_in_flight: 429 with Retry-After past it, room again once a job ends; a batch over it is 422', async () => {
    // alice has 3 places; the previous test left her one queued batch job.
    const submit = () => ctx.post<JobAccepted | ErrorBody>('/v1/jobs', { prompt: 'in flight' }, auth(KEYS.alice));
    const ids = [];
    for (let i = 0; i < 2; i++) {
      const reply = await submit();
      assert.equal(reply.status, 202, JSON.stringify(reply.body));
      ids.push((reply.body as JobAccepted).id);
    }
    const over = await submit();
    const error = assertError(over, 429, 'too_many_jobs_in_flight');
    assert.equal(error.type, 'rate_limited');
    assert.ok(Number(over.headers.get('retry-after')) > 0);

    const cancel = await ctx.post(`/v1/jobs/${ids[0]!}/cancel`, {}, auth(KEYS.alice));
    assert.equal(cancel.status, 202);
    assert.equal((await submit()).status, 202, 'the cancelled job no longer counts');

    const batch = await ctx.post(
      '/v1/jobs',
      { jobs: Array.from({ length: 4 }, () => ({ prompt: 'b' })) },
      auth(KEYS.alice),
    );
    assertError(batch, 422, 'invalid_field');
    // Other keys have their own count.
    assert.equal((await ctx.post('/v1/jobs', { prompt: 'bob' }, auth(KEYS.bob))).status, 202);
  });

  test('requests_per_minute: 429 with Retry-After once the minute is used up', async () => {
    const statuses: number[] = [];
    let retryAfter = '';
    // 5 a minute; 11 requests see a 429 even if a minute starts part-way through.
    for (let i = 0; i < 11; i++) {
      const reply = await ctx.get('/v1/jobs/job_none', auth(KEYS.slow));
      statuses.push(reply.status);
      if (reply.status === 429) {
        assertError(reply, 429, 'rate_limit_exceeded');
        retryAfter = reply.headers.get('retry-after') ?? '';
      }
    }
    const first429 = statuses.indexOf(429);
    assert.ok(first429 >= 5 && first429 <= 10, statuses.join(','));
    assert.ok(statuses.slice(0, first429).every((s) => s === 404));
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, retryAfter);
    // The limit is the key's own: another key is not slowed.
    assert.equal((await ctx.get('/v1/jobs/job_none', auth(KEYS.bob))).status, 404);
  });

  test('Batch API files, batches and their line jobs are seen only by their key and by admin keys; lists skip the others', async () => {
    const client = (key: string) => new OpenAI({ baseURL: `${ctx.api.url}/v1`, apiKey: key, maxRetries: 0 });
    const [alice, bob, admin] = [client(KEYS.alice), client(KEYS.bob), client(KEYS.admin)];
    const body = { model: 'keys-test', prompt: 'x', max_tokens: 1 };
    const line = JSON.stringify({ custom_id: 'a', method: 'POST', url: '/v1/completions', body });
    const upload = async (as: OpenAI) =>
      as.files.create({ file: await toFile(Buffer.from(`${line}\n`), 'in.jsonl'), purpose: 'batch' });
    const create = (as: OpenAI, fileId: string) =>
      as.batches.create({ input_file_id: fileId, endpoint: '/v1/completions', completion_window: '24h' });
    const batchIds = async (as: OpenAI) => {
      const ids: string[] = [];
      for await (const b of as.batches.list({ limit: 1 })) ids.push(b.id);
      return ids;
    };

    const bobsFile = await upload(bob);
    const bobsBatch = await create(bob, bobsFile.id);
    const file = await upload(alice);
    const batch = await create(alice, file.id);
    await create(alice, file.id); // two of alice's newer than bob's: his list pages past them

    assert.equal((await alice.files.retrieve(file.id)).id, file.id);
    assert.equal((await admin.files.retrieve(file.id)).id, file.id);
    assert.equal((await admin.batches.retrieve(batch.id)).id, batch.id);
    const refused = [
      bob.files.retrieve(file.id),
      bob.files.content(file.id),
      bob.files.delete(file.id),
      bob.batches.retrieve(batch.id),
      bob.batches.cancel(batch.id),
      create(bob, file.id),
    ];
    for (const reply of await Promise.all(refused.map((p) => p.catch((e: unknown) => e))))
      assert.ok(reply instanceof OpenAI.NotFoundError, String(reply));

    assert.deepEqual(
      (await bob.files.list({ purpose: 'batch' })).data.map((f) => f.id),
      [bobsFile.id],
    );
    assert.deepEqual(await batchIds(bob), [bobsBatch.id]);
    const alices = await batchIds(alice);
    assert.equal(alices.length, 2);
    assert.ok(alices.includes(batch.id) && !alices.includes(bobsBatch.id));
    const all = await batchIds(admin);
    assert.ok([bobsBatch.id, ...alices].every((id) => all.includes(id)));
    assert.ok((await admin.files.list()).data.some((f) => f.id === file.id));

    // Its line's job (enqueued by the batch's driver; no worker runs it) is alice's too.
    const [head, tail] = ctx.keys.jobState('*').split('*') as [string, string];
    const lineJob = await waitFor(`the line job of ${batch.id}`, async () => {
      for await (const keys of ctx.redis.scanStream({ match: ctx.keys.jobState('*'), count: 1000 }))
        for (const key of keys as string[])
          if ((await ctx.redis.hget(key, JobStateField.batchId)) === batch.id)
            return key.slice(head.length, key.length - tail.length);
      return null;
    });
    assert.equal(await ctx.redis.hget(ctx.keys.jobState(lineJob), JobStateField.owner), 'alice');
    assert.equal((await ctx.get(`/v1/jobs/${lineJob}`, auth(KEYS.alice))).status, 200);
    assertError(await ctx.get(`/v1/jobs/${lineJob}`, auth(KEYS.bob)), 404, 'job_not_found');
  });
});

describe('without keys', () => {
  const ctx = useApi();

  test('open local mode: said once at start, every request served without a key', async () => {
    assert.equal(ctx.api.output().match(/open local mode/g)?.length, 1);
    const id = await ctx.submit({ prompt: 'open' });
    assert.equal((await ctx.get(`/v1/jobs/${id}`)).status, 200);
    assert.equal(await ctx.redis.hget(ctx.keys.jobState(id), JobStateField.owner), null);
  });
});

test('a malformed key list stops the API at start', async () => {
  await assert.rejects(startApiProcess({ API_KEYS: '[{"key": "short", "name": "x"}]' }), /invalid API keys/);
  await assert.rejects(
    startApiProcess({ API_KEYS: JSON.stringify([{ key: KEYS.bob, name: 'bob' }]), API_KEYS_FILE: '/nonexistent/keys' }),
    /invalid API keys/,
  );
});
