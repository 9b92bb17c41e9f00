import { once } from 'node:events';
import type { Server, ServerResponse } from 'node:http';
import { pino, type Logger } from 'pino';
import {
  createRedisConnection,
  QueueKeys,
  readServiceConfig,
  type RedisClient,
  type ServiceConfig,
} from '@sambay/protocol';
import { createApp } from './app.js';
import { loadApiKeys } from './auth/api-keys.js';
import { answerClientError } from './errors/error-handler.js';
import { ApiMetrics } from './metrics/api-metrics.js';
import { MeteredJobStore } from './metrics/metered-job-store.js';
import { createOpenAiCompat, type OpenAiCompat } from './openai-compat.js';
import type { JobStore } from './queue/job-store.js';
import { OpenStreams } from './sse/open-streams.js';
import { StreamFanout } from './sse/stream-fanout.js';

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
  let apiKeys: Awaited<ReturnType<typeof loadApiKeys>>;
  try {
    apiKeys = await loadApiKeys(config);
  } catch (error) {
    logger.fatal({ err: error }, 'invalid API keys');
    process.exit(1);
  }
  if (apiKeys === null) logger.warn('no API keys configured: open local mode, every request is served without a key');
  else logger.info({ keys: apiKeys.size }, 'API keys loaded');
  const keys = new QueueKeys(config.QUEUE_PREFIX);
  // Named, so CLIENT LIST tells this deployment's API connections apart.
  const connect = ({ waitForever = false } = {}) =>
    createRedisConnection(config.REDIS_URL, { name: `${config.QUEUE_PREFIX}-api`, waitForever });
  const redis = connect();
  redis.on('error', (error) => {
    logger.warn({ err: error }, 'redis connection error');
  });
  const metrics = new ApiMetrics();
  const store = new MeteredJobStore({ redis, keys, resultTtlSeconds: config.RESULT_TTL_SECONDS }, metrics);
  const streams = new OpenStreams();
  // Every SSE stream and waiting OpenAI request follows its jobs through this one blocking reader.
  const fanout = new StreamFanout({ reader: connect(), redis, keys, logger });
  metrics.observe({
    queue: store.queue,
    sseClients: () => streams.size,
    followedStreams: () => fanout.streamCount,
    logger,
  });
  const openai = createOpenAiCompat({ config, keys, redis, connect, store, logger });
  openai.driver.run();
  const app = createApp({ config, keys, redis, apiKeys, store, streams, fanout, logger, openai, metrics });

  const server = app.listen(config.PORT);
  server.on('clientError', answerClientError);
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
      {
        server,
        store,
        redis,
        streams,
        fanout,
        openai,
        logger,
        graceMs: config.SHUTDOWN_GRACE_MS,
        inFlight: () => inFlight,
      },
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
  process.on('SIGHUP', () => {
    stop('SIGHUP');
  });
  // Started by `npm start` with an IPC channel: when that parent dies, so does the channel, and the
  // API must not outlive it as an orphan holding the port.
  process.once('disconnect', () => {
    stop('parent exited');
  });
}

interface Running {
  server: Server;
  store: JobStore;
  redis: RedisClient;
  streams: OpenStreams;
  fanout: StreamFanout;
  openai: OpenAiCompat;
  logger: Logger;
  graceMs: number;
  /** Requests whose response has not closed yet. */
  inFlight: () => number;
}

/**
 * Stops accepting connections, ends SSE streams (clients reconnect elsewhere with Last-Event-ID: the
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
  // Batch drivers hand their batches back to the queue; another API process continues them.
  await r.openai.close();
  await r.fanout.close();
  await r.store.close();
  await r.redis.quit().catch(() => {
    r.redis.disconnect();
  });
  r.logger.info('stopped');
}

await main();
