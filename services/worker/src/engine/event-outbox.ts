import type { GenerationEvent } from '@sambay/engine';

type TokensEvent = GenerationEvent & { type: 'tokens' };

/**
 * Groups the engine thread's events into few messages to the main thread. A small model decodes a
 * step in well under a millisecond, and one message per step cost the engine thread about 6 % of its
 * speed (each is serialized, and each wakes the main thread to handle it job by job); the main thread
 * only writes tokens to Redis every STREAM_FLUSH_MS anyway.
 *
 * So a sequence's later tokens wait up to `intervalMs`, merged into one `tokens` event per sequence.
 * Whatever the main thread acts on at once leaves at the end of the current turn, with all that is
 * pending: a sequence's first tokens (its client is waiting for them), `started`, `finished`,
 * `failed` and `checkpoint`. Each sequence's events keep their order.
 */
export class EventOutbox {
  private events: GenerationEvent[] = [];
  /** Per sequence, its pending `tokens` event while no other event of it follows: later tokens join it. */
  private readonly open = new Map<string, TokensEvent>();
  /** Sequences whose first tokens have been sent. */
  private readonly streaming = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;

  constructor(
    private readonly send: (events: GenerationEvent[]) => void,
    private readonly intervalMs: number,
  ) {}

  push(event: GenerationEvent): void {
    if (event.type === 'tokens') {
      const pending = this.open.get(event.id);
      if (pending) {
        pending.tokenIds.push(...event.tokenIds);
        pending.text += event.text;
        pending.generated = event.generated;
        return;
      }
      // A copy with its own array, so that merging never changes the caller's event.
      const own = { ...event, tokenIds: [...event.tokenIds] };
      this.events.push(own);
      this.open.set(event.id, own);
      if (this.streaming.has(event.id)) this.sendLater();
      else {
        this.streaming.add(event.id);
        this.sendSoon();
      }
      return;
    }
    this.open.delete(event.id);
    if (event.type === 'finished' || event.type === 'failed') this.streaming.delete(event.id);
    this.events.push(event);
    this.sendSoon();
  }

  /** Sends whatever is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    const events = this.events;
    this.events = [];
    this.open.clear();
    if (events.length > 0) this.send(events);
  }

  /** At the end of this turn: the other events of the same engine step join the message. */
  private sendSoon(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.immediate ??= setImmediate(() => {
      this.flush();
    });
  }

  private sendLater(): void {
    if (this.immediate) return;
    this.timer ??= setTimeout(() => {
      this.flush();
    }, this.intervalMs);
  }
}
