import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { decodeStreamEvent, type QueueKeys, type StreamEvent } from '@sambay/protocol';

export type TokensEvent = Extract<StreamEvent, { type: 'tokens' }>;

/** Every event of a job's Redis Stream, oldest first, as the worker wrote them. */
export async function readJobStream(redis: Redis, keys: QueueKeys, jobId: string): Promise<StreamEvent[]> {
  return (await redis.xrange(keys.jobStream(jobId), '-', '+')).map(([, fields]) => decodeStreamEvent(fields));
}

export const tokenChunks = (events: StreamEvent[]): TokensEvent[] =>
  events.flatMap((e) => (e.type === 'tokens' ? [e] : []));

/** The text of the token chunks, joined. */
export const chunkText = (events: StreamEvent[]): string =>
  tokenChunks(events)
    .map((c) => c.text)
    .join('');

export const isEnd = (event: StreamEvent): boolean => event.type === 'done' || event.type === 'error';

/** Asserts chunk indexes run 0, n0, n0+n1, ... (no gap, no overlap) and returns every token id. */
export function contiguousTokens(events: StreamEvent[]): number[] {
  let next = 0;
  for (const chunk of tokenChunks(events)) {
    assert.equal(chunk.index, next, 'each chunk starts where the previous ended');
    next += chunk.token_ids.length;
  }
  return tokenChunks(events).flatMap((c) => c.token_ids);
}
