// REDIS_URL: one server's URL is ioredis' to read; a cluster's (`redis+cluster://`) lists its nodes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseClusterUrl, readServiceConfig } from '@sambay/protocol';

test('a redis:// or rediss:// URL is one server', () => {
  assert.equal(parseClusterUrl('redis://127.0.0.1:6379'), null);
  assert.equal(parseClusterUrl('rediss://user:pw@redis.example:6380/0'), null);
});

test('redis+cluster:// lists the nodes, with URL-style credentials and TLS for rediss+cluster://', () => {
  assert.deepEqual(parseClusterUrl('redis+cluster://10.0.0.1:7000,10.0.0.2:7001'), {
    nodes: [
      { host: '10.0.0.1', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
    ],
    tls: false,
  });
  assert.deepEqual(parseClusterUrl('rediss+cluster://app:p%40ss@[::1]:7000,node-b:7001/'), {
    nodes: [
      { host: '::1', port: 7000 },
      { host: 'node-b', port: 7001 },
    ],
    tls: true,
    username: 'app',
    password: 'p@ss',
  });
  assert.deepEqual(parseClusterUrl('redis+cluster://:secret@a:1')?.password, 'secret');
});

test('a cluster node that is not host:port fails the configuration, naming REDIS_URL', () => {
  assert.throws(() => readServiceConfig({ REDIS_URL: 'redis+cluster://a:1,b' }), /REDIS_URL/);
  assert.equal(readServiceConfig({ REDIS_URL: 'redis+cluster://a:1,b:2' }).REDIS_URL, 'redis+cluster://a:1,b:2');
});
