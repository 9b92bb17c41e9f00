// StopCriteria's per-token work depends on the new text and the stop strings, not on the text
// already generated: long stop strings over a long generation stay cheap, and the outcome is the
// one a plain search of the whole text gives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as yieldToTimers } from 'node:timers/promises';
import { StopCriteria } from '@sambay/engine';

/** What the criteria must decide, computed the slow and obvious way from the whole text. */
function reference(stops: string[], text: string): { stopAt: number | null; held: number } {
  const starts = stops.map((s) => text.indexOf(s)).filter((at) => at >= 0);
  let held = 0;
  for (const stop of stops)
    for (let n = Math.min(stop.length - 1, text.length); n > held; n--) if (text.endsWith(stop.slice(0, n))) held = n;
  return { stopAt: starts.length > 0 ? Math.min(...starts) : null, held };
}

test('matches a whole-text search, token by token, on random text over a small alphabet', () => {
  let state = 12345;
  const rand = (n: number) => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state % n;
  };
  const word = (length: number) => Array.from({ length }, () => 'ab'[rand(2)]).join('');
  for (let round = 0; round < 300; round++) {
    const stops = Array.from({ length: 1 + rand(3) }, () => word(1 + rand(6)));
    const criteria = new StopCriteria({ maxTokens: 1000, eosTokenIds: [], stopStrings: stops });
    let text = '';
    for (let token = 0; token < 40; token++) {
      text += word(rand(4));
      const status = criteria.update(token, text);
      const expected = reference(stops, text);
      const message = JSON.stringify({ stops, text });
      if (expected.stopAt !== null) {
        assert.equal(status.reason, 'stop_sequence', message);
        assert.equal(status.safeLength, expected.stopAt, message);
        break;
      }
      assert.equal(status.reason, null, message);
      assert.equal(status.safeLength, text.length - expected.held, message);
    }
  }
});

// The timeout only keeps a quadratic check from hanging the suite; it is no claim about speed.
test(
  '16 stop strings of 60,000 characters over 5,000 tokens: the worst case for a suffix re-scan',
  { timeout: 60_000 },
  async () => {
    // Every stop string is a long run of one letter; the text is a run of it broken every token, so a
    // check that re-compares the held-back suffix against each stop prefix does ~60,000² work a token.
    const stops = Array.from({ length: 16 }, (_, i) => String.fromCharCode(97 + i).repeat(60_000));
    const criteria = new StopCriteria({ maxTokens: 5000, eosTokenIds: [], stopStrings: stops });
    let text = '';
    let status = null;
    for (let token = 0; token < 5000; token++) {
      text += token === 0 ? 'a'.repeat(59_000) : token % 2 ? 'Z' : 'aa';
      status = criteria.update(token, text);
      // Lets the timeout fire: a synchronous loop would hold the event loop past it.
      if (token % 10 === 0) await yieldToTimers();
    }
    assert.equal(status?.reason, 'length');
    assert.equal(status.safeLength, text.length);
  },
);
