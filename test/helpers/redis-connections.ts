import type { Redis } from 'ioredis';

/** Redis connections an API process on `prefix` holds: it names them `<QUEUE_PREFIX>-api` (CLIENT SETNAME). */
export async function apiConnections(redis: Redis, prefix: string): Promise<number> {
  const clients = (await redis.client('LIST')) as string;
  return clients.split('\n').filter((line) => line.includes(` name=${prefix}-api `)).length;
}
