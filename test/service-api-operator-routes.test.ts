// The built API's operator routes: the queue dashboard behind ADMIN_API_KEY, GET /v1/queue (what the
// KEDA trigger reads) and the web page's static files.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';

const KEY = 'test-admin-key';

describe('API with ADMIN_API_KEY', () => {
  const ctx = useApi({ ADMIN_API_KEY: KEY });

  test('the queue dashboard asks for the admin key and opens with it (Bearer or Basic)', async () => {
    const denied = await fetch(ctx.url('/admin/queues'));
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get('www-authenticate') ?? '', /^Basic /);
    assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'admin_key_required');
    const wrong = await fetch(ctx.url('/admin/queues'), { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);

    const page = await fetch(ctx.url('/admin/queues'), { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<base href="\/admin\/queues\/"/);
    const basic = `Basic ${Buffer.from(`admin:${KEY}`).toString('base64')}`;
    const queues = await ctx.get<{ queues: { name: string }[] }>('/admin/queues/api/queues', { authorization: basic });
    assert.equal(queues.status, 200);
    assert.deepEqual(
      queues.body.queues.map((q) => q.name),
      [ctx.keys.queueName],
    );
  });

  test('GET /v1/queue counts prioritized jobs (every job is one) in queued and load', async () => {
    await ctx.submit({ prompt: 'a', priority: 3 });
    await ctx.submit({ prompt: 'b' });
    const queue = await ctx.get<Record<string, number>>('/v1/queue');
    assert.equal(queue.status, 200);
    assert.deepEqual(queue.body, { waiting: 0, prioritized: 2, delayed: 0, active: 0, queued: 2, load: 2 });
  });

  test('the web page and its modules are served from /', async () => {
    const index = await fetch(ctx.url('/'));
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    const html = await index.text();
    assert.match(html, /<script type="module" src="js\/main.js"><\/script>/);
    for (const asset of ['/styles.css', '/js/main.js', '/js/api.js', '/js/job-follower.js', '/js/recent-jobs.js']) {
      const res = await fetch(ctx.url(asset));
      assert.equal(res.status, 200, asset);
    }
    assert.match((await fetch(ctx.url('/js/main.js'))).headers.get('content-type') ?? '', /javascript/);
    // Unknown paths still get the API's JSON 404, not a page.
    assert.equal((await fetch(ctx.url('/nope.html'))).status, 404);
  });
});

describe('API without ADMIN_API_KEY', () => {
  const ctx = useApi();

  test('the queue dashboard is open', async () => {
    assert.equal((await fetch(ctx.url('/admin/queues'))).status, 200);
    // Through BullMQ too, so its connection has finished starting before the fixture stops the API
    // (an API stopped while BullMQ still checks the Redis version exits with "Connection is closed").
    assert.equal((await ctx.get('/admin/queues/api/queues')).status, 200);
  });
});
