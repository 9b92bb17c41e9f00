// The built API process (no worker): stop strings are bounded in count (16) and length (256
// characters each), and a request over either bound is 422 naming the field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import type { ErrorBody } from './helpers/api-types.js';

const ctx = useApi();

test('16 stop strings of 256 characters are accepted', async () => {
  await ctx.submit({ prompt: 'p', stop: Array.from({ length: 16 }, (_, i) => String(i).padEnd(256, 'x')) });
});

const rejected: [string, unknown, string][] = [
  ['a 257-character stop string', 'x'.repeat(257), 'stop'],
  ['a 257-character stop string in a list', ['ok', 'x'.repeat(257)], 'stop[1]'],
  ['17 stop strings', Array.from({ length: 17 }, (_, i) => `s${i}`), 'stop'],
  ['16 stop strings of 60,000 characters', Array.from({ length: 16 }, () => 'y'.repeat(60_000)), 'stop[0]'],
];
for (const [name, stop, param] of rejected) {
  test(`422 for ${name}`, async () => {
    const reply = await ctx.post<ErrorBody>('/v1/jobs', { prompt: 'p', stop });
    assert.equal(reply.status, 422);
    assert.equal(reply.body.error.param, param);
    assert.match(reply.body.error.message, /at most 16 .*at most 256 characters/);
  });
}
