import { type RedisClient, decodeStreamEvent, type StreamEvent } from '@sambay/protocol';

export interface StreamEntry {
  /** Redis Stream entry id: the SSE `id:`, and where a reconnect (Last-Event-ID) continues from. */
  id: string;
  event: StreamEvent;
}

/** What XREAD answers: per stream that has entries after its id, the entries (id, fields). */
export type XreadReply = [key: string, entries: [id: string, fields: string[]][]][];

export const decodeEntries = (entries: XreadReply[number][1]): StreamEntry[] =>
  entries.map(([id, fields]) => ({ id, event: decodeStreamEvent(fields) }));

/** The stream's last entry, or null when the stream does not exist (or is empty). */
export async function lastStreamEntry(redis: RedisClient, key: string): Promise<StreamEntry | null> {
  const [last] = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
  return last ? { id: last[0], event: decodeStreamEvent(last[1]) } : null;
}
