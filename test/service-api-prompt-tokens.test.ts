// The built API process (no worker): MAX_PROMPT_TOKENS counts a prompt in the tokens the model's own
// tokenizer makes (here the byte-level one: 1 BOS + one token per UTF-8 byte), not in characters.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useApi } from './helpers/api-fixture.js';
import type { ErrorBody } from './helpers/api-types.js';

const ctx = useApi({ MAX_PROMPT_TOKENS: '8192', MAX_PROMPT_CHARS: '65536' });

test('a prompt within the character limit but over MAX_PROMPT_TOKENS is 422 with its token count', async () => {
  // 4,097 code points, 16,388 UTF-8 bytes: under any sensible character limit, twice the token limit.
  const res = await ctx.post<ErrorBody>('/v1/jobs', { prompt: '🙂'.repeat(4097) });
  assert.equal(res.status, 422);
  assert.equal(res.body.error.param, 'prompt');
  assert.equal(res.body.error.code, 'invalid_field');
  assert.match(res.body.error.message, /16389 tokens long; at most 8192/);
});

test('a batch names the job whose prompt is over the limit and enqueues none of them', async () => {
  const before = await ctx.redis.keys(`${ctx.prefix}:job:*`);
  const res = await ctx.post<ErrorBody>('/v1/jobs', { jobs: [{ prompt: 'fine' }, { prompt: 'x'.repeat(8192) }] });
  assert.equal(res.status, 422);
  assert.equal(res.body.error.param, 'jobs[1].prompt');
  assert.match(res.body.error.message, /8193 tokens long/);
  assert.deepEqual(await ctx.redis.keys(`${ctx.prefix}:job:*`), before);
});

test('a prompt of exactly MAX_PROMPT_TOKENS tokens is accepted', async () => {
  await ctx.submit({ prompt: 'x'.repeat(8191) });
});
