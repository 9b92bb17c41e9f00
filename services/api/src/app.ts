import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { type RedisClient, pendingTtlSeconds, type QueueKeys, type ServiceConfig } from '@sambay/protocol';
import { queueDashboard } from './admin/queue-dashboard.js';
import { Admission } from './admission/admission.js';
import type { ApiKey } from './auth/api-keys.js';
import { authenticate } from './auth/authenticate.js';
import { JobsInFlight } from './auth/jobs-in-flight.js';
import { limitRequestRate } from './auth/request-rate.js';
import { openAiBatchesRouter } from './batches-api/batches-router.js';
import { filesRouter } from './batches-api/files-router.js';
import { ApiError } from './errors/api-error.js';
import { errorHandler } from './errors/error-handler.js';
import { IdempotencyStore } from './idempotency/idempotency-store.js';
import type { ApiMetrics } from './metrics/api-metrics.js';
import { requestLogger } from './middleware/request-logger.js';
import { completionsRouter } from './openai/completions-router.js';
import type { OpenAiCompat } from './openai-compat.js';
import type { JobStore } from './queue/job-store.js';
import { batchesRouter } from './routes/batches.js';
import { healthRouter } from './routes/health.js';
import { jobEventsRouter } from './routes/job-events.js';
import { jobsRouter } from './routes/jobs.js';
import { queueDepthRouter } from './routes/queue-depth.js';
import type { OpenStreams } from './sse/open-streams.js';
import type { StreamFanout } from './sse/stream-fanout.js';
import { createJobRequestValidator } from './validation/job-request.js';
import { webPage } from './web/web-page.js';

export interface AppDeps {
  config: ServiceConfig;
  keys: QueueKeys;
  /** Command connection (the store's): quotas and Idempotency-Key records. */
  redis: RedisClient;
  /** The configured API keys by key; null: open local mode. */
  apiKeys: Map<string, ApiKey> | null;
  store: JobStore;
  streams: OpenStreams;
  /** The one reader of job streams every SSE stream and OpenAI request follows through. */
  fanout: StreamFanout;
  logger: Logger;
  openai: OpenAiCompat;
  /** Prometheus series, served at GET /metrics (open, as vLLM's; not logged per scrape). Absent: no /metrics. */
  metrics?: ApiMetrics;
}

/** Builds the HTTP app from its dependencies; nothing here reads the environment or opens connections. */
export function createApp(deps: AppDeps): Express {
  const { config, store } = deps;
  const app = express();
  app.disable('x-powered-by');
  if (deps.metrics) app.use(deps.metrics.router());
  app.use(requestLogger(deps.logger));
  // Every /v1 route needs a key once keys are configured (the health probes do not), checked and
  // counted against the key's rate before any body is read.
  app.use('/v1', authenticate(deps.apiKeys), limitRequestRate(deps.redis, deps.keys));
  // Uploads are multipart and streamed to disk: before the JSON parser, which would read any body.
  app.use(filesRouter(deps.openai.files, deps.openai.uploadLimits));
  // Any content type is read as JSON: clients that forget the header get a JSON error, not an empty body.
  app.use(express.json({ limit: config.MAX_BODY_BYTES, type: () => true }));

  app.use(healthRouter({ ping: () => store.ping(), modelDir: config.MODEL_DIR }));
  // One gate for every route that enqueues jobs (native and OpenAI): prompt tokens, depth, quotas.
  const admission = new Admission({
    store,
    maxQueueDepth: config.MAX_QUEUE_DEPTH,
    promptLimit: deps.openai.promptLimit,
    inFlight: new JobsInFlight(deps.redis, deps.keys, pendingTtlSeconds(config.RESULT_TTL_SECONDS)),
  });
  app.use(
    jobsRouter({
      store,
      admission,
      idempotency: new IdempotencyStore(deps.redis, deps.keys, config.RESULT_TTL_SECONDS),
      validate: createJobRequestValidator({
        maxPromptChars: config.MAX_PROMPT_CHARS,
        maxTokensLimit: config.MAX_TOKENS_LIMIT,
        maxBatchJobs: config.MAX_BATCH_JOBS,
      }),
    }),
  );
  app.use(
    jobEventsRouter({
      store,
      keys: deps.keys,
      streams: deps.streams,
      fanout: deps.fanout,
      heartbeatMs: config.SSE_HEARTBEAT_MS,
    }),
  );
  app.use(
    completionsRouter({
      store,
      keys: deps.keys,
      streams: deps.streams,
      fanout: deps.fanout,
      records: deps.openai.records,
      parser: deps.openai.parser,
      servedModel: deps.openai.servedModel,
      admission,
      heartbeatMs: config.SSE_HEARTBEAT_MS,
      resumeGraceMs: config.STREAM_RESUME_GRACE_MS,
      idleCheckMs: 5000,
    }),
  );
  // Before the native router: GET /v1/batches/:id with a native batch id falls through to it.
  app.use(
    openAiBatchesRouter({
      batches: deps.openai.batches,
      files: deps.openai.files,
      driver: deps.openai.driver,
      servedModel: deps.openai.servedModel,
    }),
  );
  app.use(batchesRouter(store));
  app.use(queueDepthRouter(store.queue));
  app.use('/admin/queues', queueDashboard({ queue: store.queue, adminKey: config.ADMIN_API_KEY }));
  app.use(webPage());

  app.use((req) => {
    throw ApiError.notFound('route', `${req.method} ${req.path}`);
  });
  app.use(errorHandler(deps.logger));
  return app;
}
