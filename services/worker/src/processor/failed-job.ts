import { type RedisClient, finalRecord, writeFinalState, type QueueKeys } from '@sambay/protocol';

/**
 * Gives a job BullMQ has failed for good its `error` event and `failed` state. Some failures end
 * no attempt of ours: a job stalled past WORKER_DEATHS_LIMIT is failed by BullMQ as the next
 * worker takes it, and one whose attempts ran out on errors (Redis) had no attempt left to write
 * its ending. Without this its followers and pollers would wait on a ghost. When an attempt already
 * wrote the ending (its own error), the protocol script makes this a no-op.
 */
export async function recordFailure(
  redis: RedisClient,
  keys: QueueKeys,
  ttlSeconds: number,
  jobId: string,
  message: string,
): Promise<void> {
  const pipe = redis.pipeline();
  writeFinalState(pipe, keys, jobId, finalRecord({ status: 'failed', message, finishedAt: Date.now() }), ttlSeconds);
  const [[error] = [null]] = (await pipe.exec()) ?? [];
  if (error) throw error;
}
