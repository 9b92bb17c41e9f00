// Every Redis key of a deployment (QueueKeys' own and BullMQ's under its prefix) hashes to one Redis
// Cluster slot, by the cluster's hash-tag rule: the scripts, MULTIs, pipelines and multi-key XREADs
// that mix them are then valid on a cluster (service-redis-cluster.test.ts runs them on one).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueueKeys as BullQueueKeys } from 'bullmq';
import { QueueKeys, readServiceConfig } from '@sambay/protocol';

/** What Redis Cluster hashes of a key: the text between its first `{` and the next `}`, if not empty; else the whole key. */
function hashedPart(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** Every key QueueKeys builds: each getter, and each method called with sample arguments. */
function everyKey(keys: QueueKeys): string[] {
  return Object.entries(Object.getOwnPropertyDescriptors(QueueKeys.prototype)).flatMap(([name, d]) => {
    if (name === 'constructor') return [];
    if (d.get) return [d.get.call(keys) as string];
    return [(d.value as (...args: string[]) => string).call(keys, 'job_0', 'abc')];
  });
}

test('QUEUE_PREFIX `sambay` and `{sambay}` name the same keys, all under the hash tag {sambay}', () => {
  assert.equal(new QueueKeys('sambay').jobStream('job_1'), '{sambay}:job:job_1:stream');
  assert.equal(new QueueKeys('{sambay}').jobStream('job_1'), '{sambay}:job:job_1:stream');
  assert.equal(readServiceConfig({ QUEUE_PREFIX: '{sambay}' }).QUEUE_PREFIX, '{sambay}');
  for (const bad of ['{sambay', 'sam{bay}', '{}', 'a b']) assert.throws(() => readServiceConfig({ QUEUE_PREFIX: bad }));
});

test("every key of QueueKeys and of BullMQ's queues hashes to the deployment's one slot", () => {
  const keys = new QueueKeys('sambay');
  const bull = new BullQueueKeys(keys.bullPrefix);
  const all = [
    ...everyKey(keys),
    ...Object.values(bull.getKeys(keys.queueName)),
    ...Object.values(bull.getKeys(keys.batchDriverQueueName)),
    bull.toKey(keys.queueName, 'job_0:lock'),
  ];
  assert.ok(all.length > 40, `${all.length} keys`);
  for (const key of all) assert.equal(hashedPart(key), 'sambay', key);
});
