// The built API process (no worker): /healthz and /readyz, with and without a model directory.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FIXTURE_MODEL_NAME, useApi } from './helpers/api-fixture.js';
import type { HealthBody, ReadyBody } from './helpers/api-types.js';

describe('API with Redis and a model directory', () => {
  const ctx = useApi();

  test('healthz and readyz report the process, Redis and the model', async () => {
    assert.deepEqual((await ctx.get<HealthBody>('/healthz')).body, { status: 'ok' });
    const ready = await ctx.get<ReadyBody>('/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.status, 'ready');
    assert.deepEqual(ready.body.model, { dir: ctx.modelDir, name: FIXTURE_MODEL_NAME, type: 'phi4flash' });
  });
});

describe('API whose model directory has no config.json', () => {
  const ctx = useApi({}, { model: 'missing' });

  test('readyz is 503 and says why when the model directory has no config.json', async () => {
    const ready = await ctx.get<ReadyBody>('/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.status, 'unavailable');
    assert.equal(ready.body.redis, 'ok');
    assert.ok(
      ready.body.reasons?.some((r) => r.startsWith('model:')),
      JSON.stringify(ready.body),
    );
  });
});
