// The built API and worker processes on a 3-master Redis Cluster the test starts itself
// (redis-server --cluster-enabled yes, joined by redis-cli --cluster create), through
// REDIS_URL=redis+cluster://…: jobs run end to end and stream over SSE, a cancel reaches the worker
// across nodes, and every key of the deployment lives on the one node that holds its hash tag.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeModelDir } from '@sambay/engine/model';
import { QueueKeys } from '@sambay/protocol';
import { startApiProcess, type ApiProcess } from './helpers/api-process.js';
import type { BatchAccepted, CancelAccepted, JobView } from './helpers/api-types.js';
import { getJson, postJson } from './helpers/http.js';
import { RedisCluster } from './helpers/redis-cluster.js';
import { testPrefix } from './helpers/redis.js';
import { eventData, openSse } from './helpers/sse-client.js';
import { followSse } from './helpers/sse-follower.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker-process.js';

describe('Redis Cluster', () => {
  const prefix = testPrefix();
  const keys = new QueueKeys(prefix);
  let cluster: RedisCluster;
  let modelDir: string;
  let api: ApiProcess;
  let worker: WorkerProcess;

  before(async () => {
    cluster = await RedisCluster.start(3);
    modelDir = await mkdtemp(join(tmpdir(), 'sambay-cluster-model-'));
    await writeModelDir(modelDir, { preset: 'tiny', seed: 0 });
    const env = { REDIS_URL: cluster.url, QUEUE_PREFIX: prefix, MODEL_DIR: modelDir };
    api = await startApiProcess(env);
    worker = await startWorkerProcess(env);
  });
  after(async () => {
    const codes = await Promise.all([api.stop(), worker.stop()]);
    await cluster.stop();
    await rm(modelDir, { recursive: true, force: true });
    assert.deepEqual(codes, [0, 0], `exit codes after SIGTERM:\n${api.output()}\n${worker.output()}`);
  });

  test('a batch runs end to end, streamed over SSE; all of its keys are on one node', async () => {
    const jobs = [1, 2, 3].map((seed) => ({ prompt: `cluster ${seed}`, max_tokens: 24, seed, ignore_eos: true }));
    const submitted = await postJson<BatchAccepted>(`${api.url}/v1/jobs`, { jobs });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const ids = submitted.body.jobs.map((j) => j.id);
    for (const id of ids) {
      const { events } = await followSse(`${api.url}/v1/jobs/${id}/events`);
      const tokens = events.filter((e) => e.event === 'tokens').map((e) => eventData(e) as { token_ids: number[] });
      assert.equal(tokens.flatMap((t) => t.token_ids).length, 24, `${id}: every token streamed once`);
      assert.equal(events.at(-1)?.event, 'done');
      const view = await getJson<JobView>(`${api.url}/v1/jobs/${id}`);
      assert.equal(view.body.status, 'completed');
      assert.equal(view.body.usage?.completion_tokens, 24);
    }
    const perNode = await cluster.keysPerNode(`${keys.prefix}:*`);
    assert.equal(perNode.filter((n) => n > 0).length, 1, `keys per node: ${perNode.join(', ')}`);
  });

  test('a cancel reaches the running worker through the cluster pub/sub', async () => {
    const id = (
      await postJson<{ id: string }>(`${api.url}/v1/jobs`, { prompt: 'long', max_tokens: 30_000, ignore_eos: true })
    ).body.id;
    const stream = await openSse(`${api.url}/v1/jobs/${id}/events`, { timeoutMs: 60_000 });
    try {
      await stream.readUntil((e) => e.event === 'tokens');
      const cancel = await postJson<CancelAccepted>(`${api.url}/v1/jobs/${id}/cancel`, {});
      assert.equal(cancel.status, 202);
      const rest = await stream.readToEnd();
      const done = eventData(rest.at(-1)!) as { status: string; result: { finish_reason: string } };
      assert.equal(done.status, 'cancelled');
      assert.equal(done.result.finish_reason, 'cancelled');
    } finally {
      stream.close();
    }
  });
});
