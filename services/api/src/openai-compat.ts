import { basename, resolve } from 'node:path';
import type { Logger } from 'pino';
import { type RedisClient, pendingTtlSeconds, type QueueKeys, type ServiceConfig } from '@sambay/protocol';
import { BatchDriver } from './batches-api/batch-driver.js';
import { BatchStore } from './batches-api/batch-store.js';
import { FileStore } from './batches-api/file-store.js';
import type { UploadLimits } from './batches-api/multipart-upload.js';
import { ChatTemplate } from './openai/chat-template.js';
import { CompletionRecords } from './openai/completion-record.js';
import { createOpenAiRequestParser, type OpenAiRequestParser } from './openai/openai-request.js';
import type { JobStore } from './queue/job-store.js';
import { PromptTokenLimit } from './validation/prompt-token-limit.js';

/** The OpenAI-compatible API's parts that outlive a request: stores, the request parser, the batch driver. */
export interface OpenAiCompat {
  servedModel: string;
  parser: OpenAiRequestParser;
  /** MAX_PROMPT_TOKENS with the model's tokenizer: one for every route and the batch driver (one tokenizer loaded). */
  promptLimit: PromptTokenLimit;
  records: CompletionRecords;
  files: FileStore;
  uploadLimits: UploadLimits;
  batches: BatchStore;
  driver: BatchDriver;
  close(): Promise<void>;
}

export interface OpenAiCompatDeps {
  config: ServiceConfig;
  keys: QueueKeys;
  redis: RedisClient;
  /** Opens another connection of this process (REDIS_URL, its name). */
  connect: (options: { waitForever: boolean }) => RedisClient;
  store: JobStore;
  logger: Logger;
}

/** Loads the chat template on first use (the API starts without the model directory) and keeps it. */
function lazyTemplate(modelDir: string): () => Promise<ChatTemplate> {
  let loading: Promise<ChatTemplate> | null = null;
  return () => {
    loading ??= ChatTemplate.load(modelDir).catch((error: unknown) => {
      loading = null;
      throw error;
    });
    return loading;
  };
}

/** The served model id: SERVED_MODEL_NAME, else the model directory's name (`.models/tiny` serves `tiny`). */
export const servedModelName = (config: ServiceConfig): string =>
  config.SERVED_MODEL_NAME || basename(resolve(config.MODEL_DIR));

/** Builds them; the batch driver takes batches only once `driver.run()` is called (main.ts). */
export function createOpenAiCompat(deps: OpenAiCompatDeps): OpenAiCompat {
  const { config, keys, redis } = deps;
  const servedModel = servedModelName(config);
  const parser = createOpenAiRequestParser({
    maxPromptChars: config.MAX_PROMPT_CHARS,
    maxTokensLimit: config.MAX_TOKENS_LIMIT,
    maxChoices: config.MAX_BATCH_JOBS,
    servedModel,
    chatTemplate: lazyTemplate(config.MODEL_DIR),
  });
  const promptLimit = new PromptTokenLimit(config.MODEL_DIR, config.MAX_PROMPT_TOKENS);
  const files = new FileStore(config.FILES_DIR, config.FILE_TTL_SECONDS);
  const batches = new BatchStore(redis, keys, 24 * 3600 + config.FILE_TTL_SECONDS);
  const workerRedis = deps.connect({ waitForever: true });
  const driver = new BatchDriver({
    keys,
    redis,
    workerRedis,
    logger: deps.logger,
    store: deps.store,
    batches,
    files,
    parser,
    promptLimit,
    servedModel,
    windowJobs: config.BATCH_WINDOW_JOBS,
    maxQueueDepth: config.MAX_QUEUE_DEPTH,
    pollMs: 250,
  });
  return {
    servedModel,
    parser,
    promptLimit,
    records: new CompletionRecords(redis, keys, pendingTtlSeconds(config.RESULT_TTL_SECONDS)),
    files,
    uploadLimits: {
      maxBytes: config.MAX_FILE_BYTES,
      maxLines: config.MAX_BATCH_LINES,
      maxLineBytes: config.MAX_BODY_BYTES,
    },
    batches,
    driver,
    async close() {
      await driver.close();
      await workerRedis.quit().catch(() => {
        workerRedis.disconnect();
      });
    },
  };
}
