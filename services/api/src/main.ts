import { once } from 'node:events';
import type { Server, ServerResponse } from 'node:http';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { QueueKeys, readServiceConfig, type ServiceConfig } from '@sambay/protocol';
import { createApp } from './app.js';
import { JobStore } from './queue/job-store.js';
import { OpenStreams } from './sse/open-streams.js';

/**
 * The API process: reads configuration once, connects to Redis, serves HTTP on PORT and shuts down
 * on SIGTERM/SIGINT. It starts (and /healthz answers) even while Redis is down; /readyz says so.
 */
async function main(): Promise<void> {
  let config: ServiceConfig;
  const bootLogger = pino({ name: 'api' });
  try {
    config = readServiceConfig();
  } catch (error) {
    bootLogger.fatal({ err: error }, 'invalid configuration');
    process.exit(1);
  }
  const logger = pino({ name: 'api', level: config.LOG_LEVEL });
  const keys = new QueueKeys(config.QUEUE_PREFIX);
  const redis = new Redis(config.REDIS_URL);
  redis.on('error', (error) => {
    logger.warn({ err: error }, 'redis connection error');
  });
  const store = new JobStore({ redis, keys, resultTtlSeconds: config.RESULT_TTL_SECONDS });
  const streams = new OpenStreams();
  const app = createApp({ config, keys, store, streams, logger });

  const server = app.listen(config.PORT);
  let inFlight = 0;
  server.on('request', (_req, res: ServerResponse) => {
    inFlight += 1;
    res.once('close', () => (inFlight -= 1));
  });
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  logger.info({ port, queue_prefix: config.QUEUE_PREFIX, model_dir: config.MODEL_DIR }, 'api listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    shutdown(
      { server, store, redis, streams, logger, graceMs: config.SHUTDOWN_GRACE_MS, inFlight: () => inFlight },
      signal,
    )
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => {
    stop('SIGTERM');
  });
  process.on('SIGINT', () => {
    stop('SIGINT');
  });
}

interface Running {
  server: Server;
  store: JobStore;
  redis: Redis;
  streams: OpenStreams;
  logger: Logger;
  graceMs: number;
  /** Requests whose response has not closed yet. */
  inFlight: () => number;
}

/**
 * Stops accepting connections, ends SSE streams (clients resume elsewhere with Last-Event-ID: the
 * jobs themselves run on in the workers), lets in-flight requests finish within the grace period,
 * then closes Redis.
 */
async function shutdown(r: Running, signal: string): Promise<void> {
  r.logger.info({ signal, open_streams: r.streams.size }, 'shutting down');
  const closed = once(r.server, 'close');
  r.server.close();
  r.streams.closeAll();
  // Keep-alive sockets would hold server.close() until the client drops them; once no response is
  // pending (Node's own idle tracking misses some sockets), close them all.
  const sweep = setInterval(() => {
    if (r.inFlight() === 0) r.server.closeAllConnections();
  }, 50);
  const grace = setTimeout(() => {
    r.server.closeAllConnections();
  }, r.graceMs);
  await closed;
  clearInterval(sweep);
  clearTimeout(grace);
  await r.store.close();
  await r.redis.quit().catch(() => {
    r.redis.disconnect();
  });
  r.logger.info('stopped');
}

await main();
