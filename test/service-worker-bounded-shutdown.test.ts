// A worker sent SIGTERM while its Redis is gone still exits, within SHUTDOWN_GRACE_MS plus the few
// seconds its hand-back and cleanup may take (generate-worker.ts, main.ts). The time limit here is
// the feature under test, so it is asserted, with room to spare: a worker that waited on Redis
// would run until killed.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { writeModelDir } from '@sambay/engine/model';
import { QueueKeys } from '@sambay/protocol';
import { RedisServer } from './helpers/redis-server.js';
import { testPrefix } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';
import { startWorkerProcess } from './helpers/worker-process.js';

const SHUTDOWN_GRACE_MS = 1000;
/** main.ts exits at SHUTDOWN_GRACE_MS + 6 s at the latest; 4 s more for a loaded machine. */
const EXIT_BOUND_MS = SHUTDOWN_GRACE_MS + 10_000;

test('SIGTERM ends a worker whose Redis went away, busy job and all', async (t) => {
  const redisServer = await RedisServer.start();
  const modelDir = await mkdtemp(join(tmpdir(), 'sambay-shutdown-model-'));
  await writeModelDir(modelDir, { preset: 'tiny', seed: 0 });
  const keys = new QueueKeys(testPrefix());
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  const queue = new Queue(keys.queueName, { prefix: keys.bullPrefix, connection: redis });
  const worker = await startWorkerProcess({
    REDIS_URL: redisServer.url,
    QUEUE_PREFIX: keys.prefix,
    MODEL_DIR: modelDir,
    SHUTDOWN_GRACE_MS: String(SHUTDOWN_GRACE_MS),
  });
  t.after(async () => {
    await worker.stop('SIGKILL');
    redis.disconnect();
    await redisServer.destroy();
    await rm(modelDir, { recursive: true, force: true });
  });
  const request = { prompt: 'a long one', max_tokens: 30_000, temperature: 1, top_p: 1, top_k: 0, seed: 5 };
  const data = { request: { ...request, stop: [], ignore_eos: true, priority: 0, metadata: {} }, batchId: null };
  await queue.add('generate', { ...data, submittedAt: Date.now() }, { jobId: 'busy' });
  await waitFor('the job to stream tokens', async () => (await redis.exists(keys.jobText('busy'))) === 1, {
    detail: () => worker.output(),
  });

  await redisServer.stop();
  const sentAt = Date.now();
  const code = await worker.stop('SIGTERM');
  const tookMs = Date.now() - sentAt;
  assert.ok(
    tookMs < EXIT_BOUND_MS,
    `exited ${tookMs} ms after SIGTERM (bound ${EXIT_BOUND_MS} ms)\n${worker.output()}`,
  );
  assert.notEqual(code, null, 'it exited by itself, not by a signal');
  t.diagnostic(`worker exited ${tookMs} ms after SIGTERM with Redis down (code ${code})`);
});
