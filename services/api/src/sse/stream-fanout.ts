import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { RedisClient, QueueKeys } from '@sambay/protocol';
import { compareStreamIdText } from '../queue/stream-id.js';
import { decodeEntries, type XreadReply } from '../queue/stream-reader.js';
import { READ_COUNT, StreamFollower, type FollowedStream, type FollowerHub } from './stream-follower.js';

export interface StreamFanoutOptions {
  /** A connection of its own: XREAD BLOCK holds it until it returns. */
  reader: RedisClient;
  /** The command connection: followers' replays and the wake-ups. */
  redis: RedisClient;
  keys: QueueKeys;
  logger: Logger;
}

/**
 * Longest wait of one shared read. A follower that joins mid-read wakes it at once (below), so this
 * only bounds a read whose wake-up was lost.
 */
const BLOCK_MS = 30_000;
/** Pause after a failed read before the next, so a Redis outage does not spin the loop. */
const RETRY_MS = 500;
/**
 * After a read that brought entries, the reader waits this long per followed stream before the next
 * one, so that more entries gather per read: a read costs in proportion to the streams it names (the
 * command alone is ~60 bytes a stream), whatever it brings. 2,000 streams wait 10 ms; a handful, none.
 */
const GATHER_MS_PER_STREAM = 0.005;

/**
 * The one reader of job streams per API process: a single XREAD BLOCK over every stream some SSE
 * client (native or OpenAI) follows, fanning each entry out to that stream's followers, instead of a
 * blocked Redis connection per client (docs/decisions.md#one-shared-sse-reader-per-api-process).
 *
 * A follower that joins while the read is blocked on the old set of streams wakes it with an XADD to
 * this reader's own wake-up stream, which every read includes; the read returns and the next one
 * includes the newcomer. A wake-up key is used rather than CLIENT UNBLOCK because it cannot be lost
 * to a race (an UNBLOCK that arrives before the XREAD does nothing, an XADD is still there to read) and
 * it is routed by key to the right node of a Redis Cluster, as the job streams are.
 */
/** A stream the reader follows. */
interface Followed {
  followers: Set<StreamFollower>;
  /** Where the next read reads the stream from: no follower has missed an entry after it. */
  cursor: string;
  /** The number of the last read that included the stream, and the id it read after. */
  readNo: number;
  readFrom: string;
}

export class StreamFanout implements FollowerHub {
  private readonly streams = new Map<string, Followed>();
  private readonly wakeKey: string;
  /** The last wake-up read: each read waits for a newer one. */
  private wakeCursor = '0-0';
  /** Counts reads; `reading` while one is in flight. */
  private readNo = 0;
  private reading = false;
  private wakeSent = false;
  private resumeIdle: (() => void) | null = null;
  private closed = false;
  private readonly loop: Promise<void>;

  constructor(private readonly options: StreamFanoutOptions) {
    this.wakeKey = options.keys.sseWakeUp(randomUUID());
    // Its errors surface as failed reads, logged below; unheard, ioredis would print each one too.
    options.reader.on('error', () => undefined);
    this.loop = this.run();
  }

  /** Follows `streams` from their given ids; the caller closes the follower when done. */
  follow(streams: FollowedStream[]): StreamFollower {
    return new StreamFollower(this, this.options.redis, streams);
  }

  /** Streams the reader follows now (for the metrics). */
  get streamCount(): number {
    return this.streams.size;
  }

  attach(follower: StreamFollower): void {
    let missed = false;
    for (const key of follower.keys) {
      const cursor = follower.cursor(key);
      const stream = this.streams.get(key);
      if (!stream) {
        this.streams.set(key, { followers: new Set([follower]), cursor, readNo: -1, readFrom: cursor });
        missed = true;
        continue;
      }
      stream.followers.add(follower);
      if (compareStreamIdText(cursor, stream.cursor) < 0) stream.cursor = cursor;
      // The read in flight misses this follower's entries if it does not read the stream, or reads it from later.
      missed ||= stream.readNo !== this.readNo || compareStreamIdText(cursor, stream.readFrom) < 0;
    }
    if (this.resumeIdle) this.resumeIdle();
    else if (missed && this.reading) this.wakeUp();
  }

  detach(follower: StreamFollower): void {
    for (const key of follower.keys) {
      const stream = this.streams.get(key);
      stream?.followers.delete(follower);
      if (stream?.followers.size === 0) this.streams.delete(key);
    }
  }

  /** Stops reading. Followers are closed by their SSE streams (OpenStreams), before this. */
  async close(): Promise<void> {
    this.closed = true;
    this.resumeIdle?.();
    this.options.reader.disconnect();
    await this.loop;
    await this.options.redis.del(this.wakeKey).catch(() => undefined);
  }

  /** A method, not the field: the loop reads it again after each await. */
  private isClosed(): boolean {
    return this.closed;
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      if (this.streams.size === 0) {
        await new Promise<void>((resolve) => (this.resumeIdle = resolve));
        this.resumeIdle = null;
        continue;
      }
      try {
        const reply = await this.read();
        this.reading = false;
        this.deliver(reply);
        const gatherMs = Math.floor(this.streams.size * GATHER_MS_PER_STREAM);
        if (gatherMs > 0 && reply.length > 0) await sleep(gatherMs);
      } catch (error) {
        this.reading = false;
        // A read ends in an error on close too (the connection is dropped).
        if (this.isClosed()) return;
        this.options.logger.warn({ err: error }, 'shared stream read failed: its followers replay on their own');
        const followers = new Set([...this.streams.values()].flatMap((stream) => [...stream.followers]));
        for (const follower of followers) follower.release();
        await sleep(RETRY_MS);
      }
    }
  }

  /** One XREAD BLOCK over the wake-up stream and every followed stream, each from its cursor. */
  private async read(): Promise<XreadReply> {
    this.readNo += 1;
    const keys: string[] = [];
    const ids: string[] = [];
    for (const [key, stream] of this.streams) {
      stream.readNo = this.readNo;
      stream.readFrom = stream.cursor;
      keys.push(key);
      ids.push(stream.cursor);
    }
    this.reading = true;
    this.wakeSent = false;
    const reply = await this.options.reader.xread(
      'COUNT',
      READ_COUNT,
      'BLOCK',
      BLOCK_MS,
      'STREAMS',
      this.wakeKey,
      ...keys,
      this.wakeCursor,
      ...ids,
    );
    return reply ?? [];
  }

  private deliver(reply: XreadReply): void {
    for (const [key, raw] of reply) {
      if (raw.length === 0) continue;
      const last = raw.at(-1)![0];
      if (key === this.wakeKey) {
        this.wakeCursor = last;
        continue;
      }
      const stream = this.streams.get(key);
      // Not followed any more, or followed anew since the read began (from a cursor it did not read from).
      if (stream?.readNo !== this.readNo) continue;
      const from = stream.readFrom;
      // Unless a follower behind `from` joined during the read, none misses an entry before `last`.
      if (compareStreamIdText(stream.cursor, from) >= 0) stream.cursor = last;
      // Decoded once for all of the stream's followers; a copy of the set, as a follower may detach.
      const entries = decodeEntries(raw);
      for (const follower of [...stream.followers]) follower.deliver(key, from, entries);
    }
  }

  /** Ends the read in flight: one XADD per read, the stream trimmed to one entry and expiring unless renewed. */
  private wakeUp(): void {
    if (this.wakeSent) return;
    this.wakeSent = true;
    this.options.redis
      .multi()
      .xadd(this.wakeKey, 'MAXLEN', '1', '*', 'w', '1')
      .pexpire(this.wakeKey, 2 * BLOCK_MS)
      .exec()
      .catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'could not wake the shared stream reader');
      });
  }
}
