import type { Redis } from 'ioredis';
import type { QueueKeys } from '@sambay/protocol';

/**
 * BullMQ's own bookkeeping of a queue (`{bullPrefix}:{queue}:{name}`): one of each per queue, not
 * per job, bounded (the event stream is capped, finished sets are trimmed by removeOnComplete /
 * removeOnFail age) and needed for as long as the queue exists, so they carry no TTL.
 */
const QUEUE_BOOKKEEPING = new Set([
  'meta',
  'id',
  'events',
  'wait',
  'paused',
  'active',
  'prioritized',
  'pc',
  'marker',
  'delayed',
  'completed',
  'failed',
  'stalled',
  'stalled-check',
  'limiter',
  'waiting-children',
]);

/** Keys under the prefix that never expire, BullMQ's per-queue bookkeeping aside. Each comes with its type. */
export async function keysWithoutTtl(redis: Redis, keys: QueueKeys): Promise<string[]> {
  const bookkeeping = new RegExp(`^${keys.bullPrefix}:[^:]+:([^:]+)$`);
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${keys.prefix}:*`, 'COUNT', 1000);
    for (const key of batch) {
      const name = bookkeeping.exec(key)?.[1];
      if (name !== undefined && QUEUE_BOOKKEEPING.has(name)) continue;
      if ((await redis.ttl(key)) === -1) found.push(`${key} (${await redis.type(key)})`);
    }
    cursor = next;
  } while (cursor !== '0');
  return found;
}
