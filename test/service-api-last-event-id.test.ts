// The built API process (no worker): a Last-Event-ID that is malformed, out of the 64-bit range of
// stream ids, or after the job's last event is a 422 in the error envelope before any stream opens
// (never a 200 and then an error event, and never a wait).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import type { ErrorBody } from './helpers/api-types.js';
import { readSseToEnd } from './helpers/sse-client.js';

const U64_MAX = '18446744073709551615';

describe('Last-Event-ID', () => {
  const ctx = useApi();

  const bad = [
    'abc',
    '18446744073709551616-0',
    `0-${BigInt(U64_MAX) + 1n}`,
    '99999999999999999999999999-0',
    '1-2-3',
    '-1-0',
    '1-0x',
  ];
  for (const id of bad) {
    test(`${JSON.stringify(id)} is 422 last_event_id, by header and by query`, async () => {
      const job = await ctx.cancelledJob({ prompt: 'finished' });
      const byHeader = await ctx.get<ErrorBody>(`/v1/jobs/${job}/events`, { 'last-event-id': id });
      const byQuery = await ctx.get<ErrorBody>(`/v1/jobs/${job}/events?last_event_id=${encodeURIComponent(id)}`);
      for (const reply of [byHeader, byQuery]) {
        assert.equal(reply.status, 422);
        assert.equal(reply.body.error.code, 'invalid_field');
        assert.equal(reply.body.error.param, 'last_event_id');
      }
    });
  }

  test('an id after the last event is 422 at once, on a finished job and on a queued one', async () => {
    const finished = await ctx.cancelledJob({ prompt: 'finished' });
    const queued = await ctx.submit({ prompt: 'queued' });
    for (const job of [finished, queued]) {
      for (const id of ['9999999999999-0', `${U64_MAX}-${U64_MAX}`]) {
        const reply = await ctx.get<ErrorBody>(`/v1/jobs/${job}/events`, { 'last-event-id': id });
        assert.equal(reply.status, 422, `${job} ${id}`);
        assert.equal(reply.body.error.param, 'last_event_id');
        assert.match(reply.body.error.message, /after the job's last event/);
      }
    }
  });

  test('the last event id itself is a valid reconnect point (nothing more to send on a finished job)', async () => {
    const job = await ctx.cancelledJob({ prompt: 'finished' });
    const all = await readSseToEnd(ctx.url(`/v1/jobs/${job}/events`));
    const last = all.events.at(-1)!.id!;
    const tail = await readSseToEnd(ctx.url(`/v1/jobs/${job}/events`), { headers: { 'last-event-id': last } });
    assert.equal(tail.stream.status, 200);
    assert.deepEqual(tail.events, []);
    assert.ok(tail.stream.ended);
  });

  test('no bad id made the API log a stream failure', () => {
    assert.doesNotMatch(ctx.api.output(), /event stream failed/);
  });
});
