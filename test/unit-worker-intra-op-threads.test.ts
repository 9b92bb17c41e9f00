// WORKER_INTRA_OP_THREADS unset: the worker sizes ORT's threads by the model it serves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readServiceConfig } from '@sambay/protocol';
import { defaultIntraOpThreads } from '@sambay/worker/engine/intra-op-threads';
import { presetModel } from './helpers/models.js';

const model = (preset: string, layers?: number) => presetModel(preset, layers ? { num_hidden_layers: layers } : {});

test('unset, the setting leaves the choice to the worker; set, it is taken as it is', () => {
  assert.equal(readServiceConfig({}).WORKER_INTRA_OP_THREADS, undefined);
  assert.equal(readServiceConfig({ WORKER_INTRA_OP_THREADS: '2' }).WORKER_INTRA_OP_THREADS, 2);
  assert.throws(() => readServiceConfig({ WORKER_INTRA_OP_THREADS: '0' }));
});

test('a small model leaves the main thread a core; a real-size one gets every core', () => {
  for (const preset of ['tiny', 'small']) {
    assert.equal(defaultIntraOpThreads(model(preset), 2), 1, preset);
    assert.equal(defaultIntraOpThreads(model(preset), 8), 7, preset);
    assert.equal(defaultIntraOpThreads(model(preset), 1), 1, `${preset} on one core`);
  }
  assert.equal(defaultIntraOpThreads(model('phi4-mini-flash'), 2), 2);
  assert.equal(
    defaultIntraOpThreads(model('phi4-mini-flash', 8), 8),
    8,
    'the 8-layer model measured in docs/benchmarks.md',
  );
});
