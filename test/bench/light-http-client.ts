// The service benchmark's HTTP client: a JSON POST and an SSE reader on node:http.
import { Agent, request } from 'node:http';
import { SseParser, type SseEvent } from '../helpers/sse-client.js';

/**
 * Keep-alive connections, as fetch keeps them. node:http rather than fetch: the client shares the
 * machine's cores with the service it times, and fetch (undici, WHATWG streams) spends more CPU per
 * request and per streamed event, which the service's numbers would pay for.
 */
const agent = new Agent({ keepAlive: true });

export function postJson(url: string, body: unknown): Promise<{ status: number; text: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    const req = request(url, { method: 'POST', agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Hands each event of an SSE stream to `onEvent` until it answers true (or throws). */
export function readEvents(url: string, onEvent: (event: SseEvent) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const parser = new SseParser();
    const req = request(url, { agent, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${url}: HTTP ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        try {
          if (parser.feed(chunk).some(onEvent)) resolve();
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
          req.destroy();
        }
      });
      res.on('end', () => {
        reject(new Error(`${url}: the stream ended before its last event`));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
