import { openSse, type SseEvent } from './sse-client.js';

/**
 * Follows a job's event stream to its terminal event as a well-behaved client does: whenever the
 * connection fails or ends without a terminal event, it reconnects with Last-Event-ID (the last id
 * received), so each stream entry is delivered once across connections. Events without an id (the
 * API's own notices of a failed stream) are not entries and are left out.
 */
export async function followSse(
  url: string,
  { connectionTimeoutMs = 120_000, maxReconnects = 50, reconnectDelayMs = 100 } = {},
): Promise<{ events: SseEvent[]; reconnects: number }> {
  const events: SseEvent[] = [];
  let lastId: string | null = null;
  for (let reconnects = 0; reconnects <= maxReconnects; reconnects++) {
    try {
      const headers: Record<string, string> = lastId ? { 'last-event-id': lastId } : {};
      const stream = await openSse(url, { headers, timeoutMs: connectionTimeoutMs });
      try {
        for (let event = await stream.next(); event; event = await stream.next()) {
          if (event.id === null) continue;
          events.push(event);
          lastId = event.id;
          if (event.event === 'done' || event.event === 'error') return { events, reconnects };
        }
      } finally {
        stream.close();
      }
    } catch {
      // The API or its Redis is away: try again.
    }
    await new Promise((resolve) => setTimeout(resolve, reconnectDelayMs));
  }
  throw new Error(`${url}: no terminal event after ${maxReconnects} reconnects (${events.length} events)`);
}
