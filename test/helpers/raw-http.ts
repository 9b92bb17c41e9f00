// HTTP/1.1 over a bare socket, for what fetch will not send or cannot do: arbitrary bytes on the
// request line, and a client that goes away right after its request.
import { connect } from 'node:net';

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** `base` is `http://host:port`; the socket goes to that address. */
function open(base: string) {
  const url = new URL(base);
  return connect({ host: url.hostname, port: Number(url.port) });
}

/**
 * Sends `head` (request line and headers, CRLF-separated, without the blank line) and `body`, with
 * `Connection: close`, and reads the whole answer. `body` is sent as it is; Content-Length is set.
 */
export async function rawRequest(base: string, head: string, body: string | Buffer = ''): Promise<RawReply> {
  const socket = open(base);
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    socket.once('close', () => {
      resolve();
    });
    socket.once('error', reject);
  });
  // No half-close after the request: Node's server drops a request whose client sent FIN before it
  // was answered. `Connection: close` has the server close once it has answered.
  socket.write(`${head}\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n`);
  socket.write(payload);
  await ended;
  return parseReply(Buffer.concat(chunks));
}

/** Splits an HTTP/1.1 answer into status, headers and body (chunked bodies decoded). */
function parseReply(raw: Buffer): RawReply {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, split < 0 ? raw.length : split).toString('latin1');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = split < 0 ? Buffer.alloc(0) : raw.subarray(split + 4);
  const body = headers['transfer-encoding'] === 'chunked' ? unchunk(rest) : rest;
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: body.toString('utf8') };
}

function unchunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', at);
    const size = parseInt(raw.subarray(at, eol).toString('latin1'), 16);
    if (eol < 0 || !(size > 0)) return Buffer.concat(parts);
    parts.push(raw.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/**
 * Sends a GET and resets the connection as soon as the request is written, before any answer:
 * a client that gives up while the server is still looking the request up.
 */
export async function getAndAbort(base: string, path: string, headers: Record<string, string> = {}): Promise<void> {
  const socket = open(base);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n${lines.join('')}\r\n`, () => {
    socket.resetAndDestroy();
  });
  await new Promise((resolve) => socket.once('close', resolve));
}
