import type { RedisClient, QueueKeys } from '@sambay/protocol';
import { OpenAiError } from './openai-errors.js';
import type { CompletionMeta } from './openai-response.js';

/** A streamed completion as a reconnecting client continues it. */
export interface CompletionRecord {
  meta: CompletionMeta;
  jobIds: string[];
  includeUsage: boolean;
}

/** Where a stream is: its completion, then per choice the last stream entry id sent. */
export interface StreamPosition {
  completionId: string;
  afterIds: string[];
}

const STREAM_ID = /^\d+-\d+$/;

/**
 * The SSE id of an OpenAI stream chunk: `{completion id}/{entry id},{entry id},...`, one job stream
 * entry id (the native stream's ids) per choice. It names the completion because a reconnecting
 * client repeats its POST with only Last-Event-ID to say which one it was.
 */
export const formatEventId = (p: StreamPosition): string => `${p.completionId}/${p.afterIds.join(',')}`;

export function parseEventId(value: string): StreamPosition {
  const slash = value.indexOf('/');
  const afterIds = value.slice(slash + 1).split(',');
  if (slash <= 0 || !afterIds.every((id) => STREAM_ID.test(id)))
    throw OpenAiError.invalidValue(
      'Last-Event-ID',
      'the Last-Event-ID header must be the `id:` of an event of this stream, such as `chatcmpl-1f2e/1718000000000-0`',
    );
  return { completionId: value.slice(0, slash), afterIds };
}

/** Streamed completions in Redis (QueueKeys.openaiCompletion), kept as long as their jobs' streams. */
export class CompletionRecords {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: QueueKeys,
    private readonly ttlSeconds: number,
  ) {}

  async save(record: CompletionRecord): Promise<void> {
    const key = this.keys.openaiCompletion(record.meta.id);
    await this.redis
      .multi()
      .hset(key, { record: JSON.stringify(record), attached: 0 })
      .expire(key, this.ttlSeconds)
      .exec();
  }

  async load(completionId: string): Promise<CompletionRecord | null> {
    const raw = await this.redis.hget(this.keys.openaiCompletion(completionId), 'record');
    return raw === null ? null : (JSON.parse(raw) as CompletionRecord);
  }

  /** Counts a client streaming the completion, so a disconnect elsewhere does not cancel its jobs. */
  async attach(completionId: string): Promise<void> {
    await this.redis.hincrby(this.keys.openaiCompletion(completionId), 'attached', 1);
  }

  /** Returns the clients still streaming it. */
  async detach(completionId: string): Promise<number> {
    return this.redis.hincrby(this.keys.openaiCompletion(completionId), 'attached', -1);
  }

  async attached(completionId: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.openaiCompletion(completionId), 'attached')) ?? 0);
  }
}
