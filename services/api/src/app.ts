import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { QueueKeys, ServiceConfig } from '@sambay/protocol';
import { ApiError } from './errors/api-error.js';
import { errorHandler } from './errors/error-handler.js';
import { requestLogger } from './middleware/request-logger.js';
import type { JobStore } from './queue/job-store.js';
import { batchesRouter } from './routes/batches.js';
import { healthRouter } from './routes/health.js';
import { jobEventsRouter } from './routes/job-events.js';
import { jobsRouter } from './routes/jobs.js';
import type { OpenStreams } from './sse/open-streams.js';
import { createJobRequestValidator } from './validation/job-request.js';

export interface AppDeps {
  config: ServiceConfig;
  keys: QueueKeys;
  store: JobStore;
  streams: OpenStreams;
  logger: Logger;
}

/** Builds the HTTP app from its dependencies; nothing here reads the environment or opens connections. */
export function createApp(deps: AppDeps): Express {
  const { config, store } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.use(requestLogger(deps.logger));
  // Any content type is read as JSON: clients that forget the header get a JSON error, not an empty body.
  app.use(express.json({ limit: config.MAX_BODY_BYTES, type: () => true }));

  app.use(healthRouter({ ping: () => store.ping(), modelDir: config.MODEL_DIR }));
  app.use(
    jobsRouter({
      store,
      maxQueueDepth: config.MAX_QUEUE_DEPTH,
      validate: createJobRequestValidator({
        maxPromptChars: config.MAX_PROMPT_CHARS,
        maxTokensLimit: config.MAX_TOKENS_LIMIT,
        maxBatchJobs: config.MAX_BATCH_JOBS,
      }),
    }),
  );
  app.use(jobEventsRouter({ store, keys: deps.keys, streams: deps.streams, heartbeatMs: config.SSE_HEARTBEAT_MS }));
  app.use(batchesRouter(store));

  app.use((req) => {
    throw ApiError.notFound('route', `${req.method} ${req.path}`);
  });
  app.use(errorHandler(deps.logger));
  return app;
}
