import type { Redis } from 'ioredis';
import { decodeStreamEvent, type StreamEvent } from '@sambay/protocol';

export interface StreamEntry {
  /** Redis Stream entry id: the SSE `id:`, and where a reconnect (Last-Event-ID) continues from. */
  id: string;
  event: StreamEvent;
}

/**
 * Entries strictly after `afterId`, waiting up to `blockMs` for one when none are there yet
 * (`blockMs` null: return at once). XREAD BLOCK holds its connection: pass a dedicated one.
 */
export async function readStreamAfter(
  redis: Redis,
  key: string,
  afterId: string,
  count: number,
  blockMs: number | null,
): Promise<StreamEntry[]> {
  const reply =
    blockMs === null
      ? await redis.xread('COUNT', count, 'STREAMS', key, afterId)
      : await redis.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', key, afterId);
  const entries = reply?.[0]?.[1] ?? [];
  return entries.map(([id, fields]) => ({ id, event: decodeStreamEvent(fields) }));
}

/** The stream's last entry, or null when the stream does not exist (or is empty). */
export async function lastStreamEntry(redis: Redis, key: string): Promise<StreamEntry | null> {
  const [last] = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
  return last ? { id: last[0], event: decodeStreamEvent(last[1]) } : null;
}
