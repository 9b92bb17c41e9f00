import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { ServiceConfig } from '@sambay/protocol';

/**
 * The worker's probe endpoints on HEALTH_PORT (none when unset), started once the worker is ready:
 * `GET /healthz` answers while the main thread (BullMQ, lock renewal; the model runs on its own
 * thread) turns its event loop; `GET /readyz` is 200 until a stop signal, then 503 while the worker
 * hands its jobs back. Nothing is routed to a worker, so readiness only paces rollouts.
 */
export function startHealthServer(config: ServiceConfig, logger: Logger): Server | null {
  if (config.HEALTH_PORT === undefined) return null;
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => (stopping = true));
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const [status, body] =
      path === '/healthz'
        ? [200, { status: 'ok' }]
        : path === '/readyz'
          ? stopping
            ? [503, { status: 'stopping' }]
            : [200, { status: 'ready' }]
          : [404, { status: 'not_found' }];
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  server.on('error', (error) => {
    logger.error({ err: error, port: config.HEALTH_PORT }, 'health server failed');
  });
  server.listen(config.HEALTH_PORT, () => {
    logger.info({ port: config.HEALTH_PORT }, 'health server listening');
  });
  // Never what keeps the process alive: shutdown ends with process.exit either way.
  server.unref();
  return server;
}
