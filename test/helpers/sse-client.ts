// A small Server-Sent Events client for tests: fetch + a parser of the text/event-stream format,
// written here rather than taken from a library so the test checks the wire format the API sends.

/** One dispatched event. `id` is this frame's own `id:` field (null when the frame had none). */
export interface SseEvent {
  id: string | null;
  /** `event:` field; `message` when the frame had none (as EventSource does). */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
}

/**
 * Incremental parser: feed it decoded text in arbitrary pieces, take complete events out.
 * Lines end in `\n` or `\r\n`; a blank line dispatches; `:` lines are comments (heartbeats).
 */
export class SseParser {
  readonly comments: string[] = [];
  /** The last `id:` seen on any frame: what a reconnecting client sends as Last-Event-ID. */
  lastEventId: string | null = null;
  private buffer = '';
  private frame = { id: null as string | null, event: '', data: [] as string[] };

  feed(text: string): SseEvent[] {
    this.buffer += text;
    const events: SseEvent[] = [];
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).replace(/\r$/, '');
      this.buffer = this.buffer.slice(newline + 1);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): SseEvent | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trim());
      return null;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    // One space after the colon belongs to the syntax, not the value.
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') this.frame.data.push(value);
    else if (field === 'event') this.frame.event = value;
    else if (field === 'id') this.frame.id = value;
    return null;
  }

  private dispatch(): SseEvent | null {
    const { id, event, data } = this.frame;
    this.frame = { id: null, event: '', data: [] };
    if (id !== null) this.lastEventId = id;
    // A frame without data (an id or event alone) dispatches nothing, as in EventSource.
    if (data.length === 0) return null;
    return { id, event: event || 'message', data: data.join('\n') };
  }
}

export interface SseOpenOptions {
  headers?: Record<string, string>;
  /** Upper bound on the whole connection; reads past it reject. @defaultValue 10000 */
  timeoutMs?: number;
}

/** One open event stream. `next()` yields events in order, null once the server has closed it. */
export class SseStream {
  private readonly parser = new SseParser();
  private readonly pending: SseEvent[] = [];
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  /** True once the server ended the response (not when this side closed it). */
  ended = false;

  constructor(
    readonly url: string,
    readonly response: Response,
    private readonly abort: AbortController,
    private readonly timer: NodeJS.Timeout,
  ) {
    this.reader = response.body!.getReader();
  }

  get status(): number {
    return this.response.status;
  }

  get comments(): readonly string[] {
    return this.parser.comments;
  }

  get lastEventId(): string | null {
    return this.parser.lastEventId;
  }

  /** The response's Content-Type header. */
  get contentType(): string | null {
    return this.response.headers.get('content-type');
  }

  async next(): Promise<SseEvent | null> {
    while (this.pending.length === 0) {
      if (this.ended) return null;
      await this.pull();
    }
    return this.pending.shift()!;
  }

  /** Reads until `stop(event)` holds (that event included) or the server ends the stream. */
  async readUntil(stop: (event: SseEvent) => boolean): Promise<SseEvent[]> {
    const events: SseEvent[] = [];
    for (let event = await this.next(); event; event = await this.next()) {
      events.push(event);
      if (stop(event)) break;
    }
    return events;
  }

  /** Reads every event until the server ends the stream. */
  readToEnd(): Promise<SseEvent[]> {
    return this.readUntil(() => false);
  }

  /**
   * Reads until `done(events, comments)` holds or the server ends the stream. Unlike
   * {@link readUntil} it is also checked after every piece of the response, so it can wait for a
   * comment (a heartbeat) that comes with no event. `comments` holds every comment of the stream.
   */
  async collectUntil(done: (events: readonly SseEvent[], comments: readonly string[]) => boolean): Promise<SseEvent[]> {
    const events: SseEvent[] = [];
    for (;;) {
      for (let event = this.pending.shift(); event; event = this.pending.shift()) {
        events.push(event);
        if (done(events, this.comments)) return events;
      }
      if (done(events, this.comments) || this.ended) return events;
      await this.pull();
    }
  }

  /** Reads one more piece of the response into the parser; sets `ended` once the server has ended it. */
  private async pull(): Promise<void> {
    let chunk: Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;
    try {
      chunk = await this.reader.read();
    } catch (error) {
      if (this.abort.signal.aborted) {
        throw new Error(`SSE ${this.url}: no end within the connection's time limit`, { cause: error });
      }
      throw error;
    }
    if (chunk.done) {
      this.ended = true;
      clearTimeout(this.timer);
      this.pending.push(...this.parser.feed(this.decoder.decode()));
    } else {
      this.pending.push(...this.parser.feed(this.decoder.decode(chunk.value, { stream: true })));
    }
  }

  /** Drops the connection from the client side, as a client that goes away does. */
  close(): void {
    clearTimeout(this.timer);
    this.abort.abort();
  }
}

/** Opens `url` as an event stream; resolves once the response headers arrived. */
export async function openSse(url: string, options: SseOpenOptions = {}): Promise<SseStream> {
  const abort = new AbortController();
  const timer = setTimeout(() => {
    abort.abort();
  }, options.timeoutMs ?? 10_000);
  try {
    const response = await fetch(url, {
      headers: { accept: 'text/event-stream', ...options.headers },
      signal: abort.signal,
    });
    return new SseStream(url, response, abort, timer);
  } catch (error) {
    clearTimeout(timer);
    throw error;
  }
}

/** Opens `url` and reads it until the server ends it; the stream is closed on return (or failure). */
export async function readSseToEnd(
  url: string,
  options: SseOpenOptions = {},
): Promise<{ stream: SseStream; events: SseEvent[] }> {
  const stream = await openSse(url, options);
  try {
    return { stream, events: await stream.readToEnd() };
  } finally {
    stream.close();
  }
}

/** An event's `data` parsed as JSON (the API sends one JSON document per event). */
export const eventData = (event: SseEvent): unknown => JSON.parse(event.data);
