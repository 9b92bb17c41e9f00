import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressMeter } from '@sambay/worker/processor/progress-meter';

test('progress is reported at most once per interval, with the rate of this attempt', () => {
  const meter = new ProgressMeter(100, 1000);
  assert.equal(meter.tick(40, 10_000), null, 'the first token only starts the clock (40 resumed tokens)');
  assert.equal(meter.tick(45, 10_500), null);
  assert.deepEqual(meter.tick(60, 11_000), { generated_tokens: 60, max_tokens: 100, tokens_per_second: 20 });
  assert.equal(meter.tick(61, 11_900), null);
  assert.equal(meter.tick(70, 12_000)?.tokens_per_second, 15);
});
