import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GenerationEvent } from '@sambay/engine';
import { EventOutbox } from '@sambay/worker/engine/event-outbox';

const tokens = (id: string, tokenIds: number[], generated: number): GenerationEvent => ({
  type: 'tokens',
  id,
  tokenIds,
  text: tokenIds.map(String).join(''),
  generated,
});

test("a sequence's first tokens go at the end of the turn, later ones merged after the interval", async () => {
  const sent: GenerationEvent[][] = [];
  const outbox = new EventOutbox((events) => sent.push(events), 20);
  outbox.push({ type: 'started', id: 'a', promptTokens: 3 });
  outbox.push(tokens('a', [1], 1));
  outbox.push(tokens('b', [7], 1));
  await sleep(0);
  assert.deepEqual(sent, [[{ type: 'started', id: 'a', promptTokens: 3 }, tokens('a', [1], 1), tokens('b', [7], 1)]]);

  const later = tokens('a', [2], 2);
  outbox.push(later);
  outbox.push(tokens('b', [8], 2));
  outbox.push(tokens('a', [3], 3));
  await sleep(5);
  assert.equal(sent.length, 1, 'later tokens wait for the interval');
  await sleep(30);
  assert.deepEqual(sent[1], [tokens('a', [2, 3], 3), tokens('b', [8], 2)], 'merged per sequence');
  assert.deepEqual(later, tokens('a', [2], 2), "the caller's event is not changed by the merge");
});

test("other events go at once with what is pending, and keep each sequence's order", async () => {
  const sent: GenerationEvent[][] = [];
  const outbox = new EventOutbox((events) => sent.push(events), 1000);
  outbox.push(tokens('a', [1], 1));
  await sleep(0);
  outbox.push(tokens('a', [2], 2));
  const state = new Uint8Array(4);
  outbox.push({ type: 'checkpoint', id: 'a', state, tokens: 1 });
  outbox.push(tokens('a', [3], 3));
  outbox.push({ type: 'finished', id: 'a', reason: 'length', promptTokens: 3, generatedTokens: 3 });
  await sleep(0);
  assert.deepEqual(sent[1], [
    tokens('a', [2], 2),
    { type: 'checkpoint', id: 'a', state, tokens: 1 },
    tokens('a', [3], 3),
    { type: 'finished', id: 'a', reason: 'length', promptTokens: 3, generatedTokens: 3 },
  ]);
  // A new generation under a finished one's id (none in practice) starts over: its first tokens go at once.
  outbox.push(tokens('a', [9], 1));
  await sleep(0);
  assert.equal(sent.length, 3);
});

test('flush sends what is pending now', () => {
  const sent: GenerationEvent[][] = [];
  const outbox = new EventOutbox((events) => sent.push(events), 1000);
  outbox.push(tokens('a', [1], 1));
  outbox.flush();
  assert.deepEqual(sent, [[tokens('a', [1], 1)]]);
  outbox.flush();
  assert.equal(sent.length, 1, 'nothing more to send');
});
