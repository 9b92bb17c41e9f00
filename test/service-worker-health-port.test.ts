// The built worker's probe endpoints on HEALTH_PORT (Kubernetes liveness/readiness, infra/k8s).
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { freePort } from './helpers/free-port.js';
import { waitFor } from './helpers/wait.js';
import { useWorkers } from './helpers/worker-fixture.js';

describe('worker with HEALTH_PORT', () => {
  const env: Record<string, string> = {};
  // Registered before the fixture's own hook, so the worker starts with the port.
  before(async () => {
    env.HEALTH_PORT = String(await freePort());
  });
  const ctx = useWorkers(env);

  test('healthz and readyz answer 200 once the worker is ready, unknown paths 404', async () => {
    const url = (path: string) => `http://127.0.0.1:${env.HEALTH_PORT ?? ''}${path}`;
    // The server starts listening right after the worker logs `worker ready`.
    const health = await waitFor('the health server', () => fetch(url('/healthz')).catch(() => null), {
      intervalMs: 50,
    });
    assert.equal(health.status, 200, ctx.worker.output());
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(url('/readyz'));
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready' });
    assert.equal((await fetch(url('/metrics-not-here'))).status, 404);
  });
});
