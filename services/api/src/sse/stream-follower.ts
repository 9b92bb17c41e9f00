import type { RedisClient } from '@sambay/protocol';
import { compareStreamIdText } from '../queue/stream-id.js';
import { decodeEntries, type StreamEntry } from '../queue/stream-reader.js';

/** Entries per stream per read, so a long stream is replayed in bounded chunks. */
export const READ_COUNT = 256;

/**
 * Entries a follower may hold undelivered before it lets go of the shared reader and catches up on
 * its own: a slow client must not make the reader buffer its stream without bound.
 */
const MAX_QUEUED = 4 * READ_COUNT;

/** An entry of one of the streams a follower follows. */
export interface FollowedEntry extends StreamEntry {
  key: string;
}

/** A stream to follow and the entry id to continue after ('0-0': from the start). */
export interface FollowedStream {
  key: string;
  after: string;
}

/** The shared reader, as a follower sees it (stream-fanout.ts). */
export interface FollowerHub {
  /** From now on, entries of the follower's streams after its cursors are delivered to it. */
  attach(follower: StreamFollower): void;
  detach(follower: StreamFollower): void;
}

/**
 * One client's view of one or more job streams through the process's shared reader. It replays what
 * is already there with plain XREADs on the command connection, then attaches to the shared reader
 * for new entries. Each stream's cursor is the last entry taken in, so an entry reaches the client
 * once whether it came from the replay or the reader, and a reconnect point is never skipped.
 */
export class StreamFollower {
  /** Per stream, the last entry id taken in (queued or handed out). */
  private readonly seen: Map<string, string>;
  /** Per stream, the last entry id handed out by next(). */
  private readonly handedOut: Map<string, string>;
  private queued: FollowedEntry[] = [];
  private attached = false;
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly hub: FollowerHub,
    /** The command connection: replays never block. */
    private readonly redis: RedisClient,
    streams: FollowedStream[],
  ) {
    this.seen = new Map(streams.map((s) => [s.key, s.after]));
    this.handedOut = new Map(this.seen);
  }

  /** The streams followed, in the order given. */
  get keys(): string[] {
    return [...this.seen.keys()];
  }

  /** Where the shared reader must read `key` from for this follower. */
  cursor(key: string): string {
    return this.seen.get(key) ?? '0-0';
  }

  /**
   * The next entries after the cursors, in stream order per stream; waits up to `waitMs` when there
   * are none, then answers []. Also [] once closed. A failed replay read rejects.
   */
  async next(waitMs: number): Promise<FollowedEntry[]> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (this.closed) return [];
      if (this.queued.length > 0) {
        const queued = this.queued;
        this.queued = [];
        return this.handOut(queued);
      }
      if (!this.attached) {
        const replayed = await this.replay();
        if (replayed.length > 0) return this.handOut(replayed);
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) return [];
      await this.delivery(left);
    }
  }

  /**
   * What is in the streams after the cursors right now, read from Redis rather than waited for (the
   * job has ended: whatever it wrote is already there). The follower re-attaches on its next next().
   */
  async readNow(): Promise<FollowedEntry[]> {
    this.letGo({ dropQueued: true });
    const entries: FollowedEntry[] = [];
    for (let chunk = await this.read(); chunk.entries.length > 0; chunk = await this.read()) {
      entries.push(...chunk.entries);
      if (!chunk.more) break;
    }
    return this.handOut(entries);
  }

  /**
   * Entries of `key` the shared reader read after `from`. Some may be old to this follower; if it is
   * behind `from` (it joined during that read), it takes none, or it would skip the entries between:
   * the next read starts from its cursor.
   */
  deliver(key: string, from: string, entries: StreamEntry[]): void {
    const seen = this.seen.get(key);
    if (seen === undefined || !this.attached || compareStreamIdText(seen, from) < 0) return;
    const fresh = entries.filter((e) => compareStreamIdText(e.id, seen) > 0);
    if (fresh.length === 0) return;
    this.seen.set(key, fresh.at(-1)!.id);
    for (const e of fresh) this.queued.push({ key, ...e });
    if (this.queued.length > MAX_QUEUED) this.letGo({ dropQueued: true });
    this.wakeUp();
  }

  /** The shared reader's read failed: this follower replays on its own until it has caught up again. */
  release(): void {
    this.letGo({ dropQueued: false });
  }

  close(): void {
    this.closed = true;
    this.letGo({ dropQueued: true });
  }

  /** One replay read; attaches to the shared reader once it reaches the end of every stream. */
  private async replay(): Promise<FollowedEntry[]> {
    const { entries, more } = await this.read();
    if (!more && !this.closed) {
      this.attached = true;
      this.hub.attach(this);
    }
    return entries;
  }

  /** A non-blocking XREAD after the `seen` cursors; `more` when some stream may have entries beyond it. */
  private async read(): Promise<{ entries: FollowedEntry[]; more: boolean }> {
    const keys = this.keys;
    const reply = await this.redis.xread('COUNT', READ_COUNT, 'STREAMS', ...keys, ...keys.map((k) => this.cursor(k)));
    const entries: FollowedEntry[] = [];
    let more = false;
    for (const [key, raw] of reply ?? []) {
      if (raw.length === 0) continue;
      more ||= raw.length >= READ_COUNT;
      this.seen.set(key, raw.at(-1)![0]);
      for (const e of decodeEntries(raw)) entries.push({ key, ...e });
    }
    return { entries, more };
  }

  private handOut(entries: FollowedEntry[]): FollowedEntry[] {
    for (const e of entries) this.handedOut.set(e.key, e.id);
    return entries;
  }

  /**
   * Leaves the shared reader. Queued entries stay to be handed out, unless dropped (too many, or about
   * to be read again): then the cursors go back to what was handed out, so a replay gets them again.
   */
  private letGo({ dropQueued }: { dropQueued: boolean }): void {
    if (dropQueued) {
      this.queued = [];
      for (const [key, id] of this.handedOut) this.seen.set(key, id);
    }
    if (this.attached) this.hub.detach(this);
    this.attached = false;
    this.wakeUp();
  }

  private delivery(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  private wakeUp(): void {
    this.wake?.();
  }
}
