import type { Queue } from 'bullmq';
import type { RedisClient } from '@sambay/protocol';

/**
 * How many jobs start before `id`; null when it is not waiting.
 *
 * Why this reads two of BullMQ's keys instead of its public API: BullMQ 5 has no rank query. Its
 * public getters (`getWaiting`, `getPrioritized`) return pages of whole jobs, so finding one job's
 * place would read O(position) job hashes on every poll; LPOS and ZRANK on the two structures
 * BullMQ takes jobs from answer without reading any job. The order assumed here (the wait list
 * first, its right end next; then the prioritized set by score, which is FIFO within a priority)
 * is pinned by `test/service-api-queue-position.test.ts` against those public getters, so a BullMQ upgrade
 * that changed it fails there. Our jobs are all prioritized (see protocol `toBullPriority`).
 */
export async function queuePosition(redis: RedisClient, queue: Queue, id: string): Promise<number | null> {
  const wait = queue.toKey('wait');
  const [waitLength, index, rank] = await Promise.all([
    redis.llen(wait),
    redis.lpos(wait, id),
    redis.zrank(queue.toKey('prioritized'), id),
  ]);
  if (index !== null) return waitLength - 1 - index;
  if (rank !== null) return waitLength + rank;
  return null;
}
