import { once } from 'node:events';
import type { Response } from 'express';

/**
 * Server-Sent Events framing over one response: `id:`/`event:`/`data:` lines, comment heartbeats.
 * Writes wait for `drain` when the socket buffer is full, so a slow client holds back its own reader
 * instead of growing memory.
 */
export class SseWriter {
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly res: Response) {}

  /** Sends the headers now, so clients (and proxies: x-accel-buffering) see the stream open before the first event. */
  open(): void {
    this.res.status(200);
    this.res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    this.res.setHeader('cache-control', 'no-cache');
    this.res.setHeader('connection', 'keep-alive');
    this.res.setHeader('x-accel-buffering', 'no');
    this.res.flushHeaders();
  }

  /** One event. `data` is JSON on a single line (JSON.stringify escapes newlines), so one `data:` line suffices. */
  async event(type: string, data: unknown, id?: string): Promise<void> {
    const idLine = id === undefined ? '' : `id: ${id}\n`;
    await this.write(`${idLine}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** A message with no `event:` line, as OpenAI's streams send them; `data` is one line (JSON, or `[DONE]`). */
  async data(data: string, id?: string): Promise<void> {
    const idLine = id === undefined ? '' : `id: ${id}\n`;
    await this.write(`${idLine}data: ${data}\n\n`);
  }

  /** Comment lines keep idle connections (and the proxies between) from timing out; clients ignore them. */
  startHeartbeat(intervalMs: number): void {
    this.heartbeat = setInterval(() => {
      // A full buffer already proves the connection busy; skip rather than queue pings behind it.
      if (!this.res.writableNeedDrain && !this.res.writableEnded) this.res.write(': ping\n\n');
    }, intervalMs);
    this.heartbeat.unref();
  }

  end(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (!this.res.writableEnded) this.res.end();
  }

  private async write(chunk: string): Promise<void> {
    if (this.res.writableEnded || this.res.destroyed) return;
    if (!this.res.write(chunk)) await Promise.race([once(this.res, 'drain'), once(this.res, 'close')]);
  }
}
