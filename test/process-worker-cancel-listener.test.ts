// The worker's cancel listener in this process against a real Redis: pub/sub and the cancelled marker.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueueKeys } from '@sambay/protocol';
import { CancelListener, isCancelled } from '@sambay/worker/cancellation/cancel-listener';
import { connectRedis, deleteKeys, testPrefix } from './helpers/redis.js';
import { waitFor } from './helpers/wait.js';

const redis = connectRedis();
const prefix = testPrefix();
const keys = new QueueKeys(prefix);

after(async () => {
  await deleteKeys(redis, prefix);
  await redis.quit();
});

test('a job id published on the cancel channel reaches the listener; other prefixes do not', async () => {
  const subscriber = connectRedis();
  const received: string[] = [];
  const listener = new CancelListener({ subscriber, keys, onCancel: (id) => received.push(id) });
  await listener.start();
  await redis.publish(new QueueKeys(testPrefix()).cancelChannel, 'other-deployment');
  await redis.publish(keys.cancelChannel, 'job-1');
  await redis.publish(keys.cancelChannel, 'job-2');
  await waitFor('two cancels', () => received.length >= 2);
  assert.deepEqual(received, ['job-1', 'job-2']);
  await listener.close();
  await redis.publish(keys.cancelChannel, 'job-3');
  await sleep(50);
  assert.deepEqual(received, ['job-1', 'job-2'], 'nothing after close');
  await subscriber.quit();
});

test('isCancelled sees the marker the API sets for a job cancelled before it started', async () => {
  assert.equal(await isCancelled(redis, keys, 'queued-job'), false);
  await redis.set(keys.jobCancelled('queued-job'), '1');
  assert.equal(await isCancelled(redis, keys, 'queued-job'), true);
});
