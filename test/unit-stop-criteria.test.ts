import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SamplingInvariantError, StopCriteria, type StopStatus } from '@sambay/engine';
import { ByteTokenizer, StreamingDetokenizer } from '@sambay/tokenizer';

const EOS = 999;

/** Feeds (token, text piece) pairs as a streaming caller would; returns every status and what was streamed. */
function run(criteria: StopCriteria, steps: [number, string][]): { statuses: StopStatus[]; streamed: string } {
  let text = '';
  const statuses: StopStatus[] = [];
  for (const [id, piece] of steps) {
    text += piece;
    const status = criteria.update(id, text);
    statuses.push(status);
    if (status.reason) break;
  }
  return { statuses, streamed: statuses.map((s) => s.release).join('') };
}

const pieces = (...texts: string[]): [number, string][] => texts.map((t, i) => [i, t]);

test('max tokens: stops with length at exactly maxTokens, releasing all text', () => {
  const criteria = new StopCriteria({ maxTokens: 3, eosTokenIds: [EOS], stopStrings: [] });
  const { statuses, streamed } = run(criteria, pieces('a', 'b', 'c', 'd'));
  assert.deepEqual(
    statuses.map((s) => s.reason),
    [null, null, 'length'],
  );
  assert.equal(streamed, 'abc');
  assert.equal(criteria.tokenCount, 3);
});

test('EOS: stops with eos_token, and EOS wins over the length limit on the same token', () => {
  const eos = run(new StopCriteria({ maxTokens: 10, eosTokenIds: [7, EOS], stopStrings: [] }), [
    [1, 'x'],
    [EOS, ''],
  ]);
  assert.deepEqual(
    eos.statuses.map((s) => s.reason),
    [null, 'eos_token'],
  );
  assert.equal(eos.streamed, 'x');
  const both = run(new StopCriteria({ maxTokens: 2, eosTokenIds: [EOS], stopStrings: [] }), [
    [1, 'x'],
    [EOS, ''],
  ]);
  assert.equal(both.statuses.at(-1)!.reason, 'eos_token');
});

test('stop string spanning two tokens: output ends before it and it is never streamed', () => {
  const criteria = new StopCriteria({ maxTokens: 100, eosTokenIds: [EOS], stopStrings: ['###'] });
  const { statuses, streamed } = run(criteria, pieces('Hello', ' world#', '##', ' more'));
  assert.deepEqual(
    statuses.map((s) => s.reason),
    [null, null, 'stop_sequence'],
  );
  assert.equal(streamed, 'Hello world');
  assert.equal(statuses.at(-1)!.safeLength, 'Hello world'.length);
});

test('a stop string that arrives with text after it in the same token cuts that text too', () => {
  const { statuses, streamed } = run(
    new StopCriteria({ maxTokens: 100, eosTokenIds: [], stopStrings: ['END'] }),
    pieces('abc EN', 'D tail'),
  );
  assert.equal(statuses.at(-1)!.reason, 'stop_sequence');
  assert.equal(streamed, 'abc ');
});

test('the first of several stop strings wins, and a stop string beats EOS and length', () => {
  const a = run(new StopCriteria({ maxTokens: 100, eosTokenIds: [], stopStrings: ['zz', 'b'] }), pieces('aab', 'zz'));
  assert.equal(a.streamed, 'aa');
  const b = run(new StopCriteria({ maxTokens: 1, eosTokenIds: [0], stopStrings: ['!'] }), pieces('hi! there'));
  assert.equal(b.statuses[0]!.reason, 'stop_sequence');
  assert.equal(b.streamed, 'hi');
});

test('held-back partial match is released once it turns out not to be a stop string', () => {
  const criteria = new StopCriteria({ maxTokens: 100, eosTokenIds: [], stopStrings: ['</end>'] });
  const { statuses } = run(criteria, pieces('x </', 'en', 'try> y'));
  assert.deepEqual(
    statuses.map((s) => s.release),
    ['x ', '', '</entry> y'],
    '"</" and "</en" are held back, then released together',
  );
  assert.deepEqual(
    statuses.map((s) => s.safeLength),
    [2, 2, 'x </entry> y'.length],
  );
});

test('held-back text is released at the end when generation stops for another reason', () => {
  const length = run(new StopCriteria({ maxTokens: 2, eosTokenIds: [], stopStrings: ['STOP'] }), pieces('go', ' ST'));
  assert.equal(length.statuses.at(-1)!.reason, 'length');
  assert.equal(length.streamed, 'go ST');
  const cancelled = new StopCriteria({ maxTokens: 10, eosTokenIds: [], stopStrings: ['STOP'] });
  const partial = run(cancelled, pieces('go', ' ST'));
  assert.equal(partial.streamed, 'go ');
  const end = cancelled.finish('go ST');
  assert.deepEqual([end.reason, end.release], [null, 'ST']);
});

test('finish finds a stop string completed by the detokenizer flush', () => {
  const criteria = new StopCriteria({ maxTokens: 10, eosTokenIds: [], stopStrings: ['\uFFFD'] });
  run(criteria, pieces('ok'));
  const end = criteria.finish('ok\uFFFD');
  assert.deepEqual([end.reason, end.safeLength], ['stop_sequence', 2]);
});

test('with a streaming detokenizer: a multi-byte stop string split over byte tokens', () => {
  const tokenizer = new ByteTokenizer();
  const detokenizer = new StreamingDetokenizer(tokenizer);
  const criteria = new StopCriteria({ maxTokens: 100, eosTokenIds: tokenizer.eosTokenIds, stopStrings: ['🛑'] });
  let text = '';
  let streamed = '';
  let reason = null;
  for (const id of tokenizer.encode('go → 🛑 never').slice(1)) {
    text += detokenizer.push(id);
    const status = criteria.update(id, text);
    streamed += status.release;
    reason = status.reason;
    if (reason) break;
  }
  assert.equal(reason, 'stop_sequence');
  assert.equal(streamed, 'go → ');
});

test('replaying the same updates gives the same statuses (resume)', () => {
  const steps = pieces('a<', '<s', 'top', '>>', 'b');
  const make = () => new StopCriteria({ maxTokens: 100, eosTokenIds: [], stopStrings: ['<<stop>>'] });
  const first = run(make(), steps).statuses;
  assert.deepEqual(run(make(), steps).statuses, first);
  assert.equal(first.at(-1)!.reason, 'stop_sequence');
});

test('invariants: maxTokens >= 1 and no empty stop strings', () => {
  assert.throws(() => new StopCriteria({ maxTokens: 0, eosTokenIds: [], stopStrings: [] }), SamplingInvariantError);
  assert.throws(() => new StopCriteria({ maxTokens: 5, eosTokenIds: [], stopStrings: [''] }), SamplingInvariantError);
});
