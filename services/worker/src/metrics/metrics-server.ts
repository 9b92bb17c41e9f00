import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/**
 * The worker's Prometheus endpoint, `GET /metrics` on METRICS_PORT (none when unset): a server of
 * its own, apart from HEALTH_PORT's probes, so scraping and probing can be exposed separately. It
 * logs the port it listens on (METRICS_PORT=0 picks a free one).
 */
export function startMetricsServer(port: number | undefined, registry: Registry, logger: Logger): Server | null {
  if (port === undefined) return null;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      },
    );
  });
  server.on('error', (error) => {
    logger.error({ err: error, port }, 'metrics server failed');
  });
  server.listen(port, () => {
    const address = server.address();
    logger.info({ port: typeof address === 'object' && address ? address.port : port }, 'metrics server listening');
  });
  // Never what keeps the process alive: shutdown ends with process.exit either way.
  server.unref();
  return server;
}
