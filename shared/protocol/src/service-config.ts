import { z } from 'zod';
import { ServiceError } from './service-error.js';

const int = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** Every environment variable the API and worker read, with its default. */
const schema = z.object({
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** Namespaces every Redis key (queue, streams, channels); tests give each run its own. */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('sambay'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  MODEL_DIR: z.string().default('.models/tiny'),
  EXECUTION_PROVIDER: z.enum(['cpu', 'cuda', 'webgpu']).default('cpu'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Jobs waiting in the queue beyond which POST /v1/jobs answers 429. */
  MAX_QUEUE_DEPTH: int(10_000),
  /** Prefill is not chunked yet: its attention scores grow with the square of the prompt. */
  MAX_PROMPT_CHARS: int(8192),
  MAX_TOKENS_LIMIT: int(32_768),
  MAX_BATCH_JOBS: int(256),
  MAX_BODY_BYTES: int(1_048_576),
  /** How long a finished job keeps its text and token stream. */
  RESULT_TTL_SECONDS: int(3600),
  /** Sequences one worker decodes together (its BullMQ concurrency). */
  WORKER_MAX_SEQUENCES: int(8),
  /** Tokens are grouped into one Redis write per sequence at most this often. */
  STREAM_FLUSH_MS: int(50),
  SSE_HEARTBEAT_MS: int(15_000),
  /** Time a worker gives active jobs on SIGTERM before it exits (they are retried elsewhere). */
  SHUTDOWN_GRACE_MS: int(10_000),
});

export type ServiceConfig = z.infer<typeof schema>;

export class ServiceConfigError extends ServiceError {
  constructor(message: string) {
    super('invalid_service_config', message);
  }
}

/** Reads configuration once, at start-up; nothing else in the services touches process.env. */
export function readServiceConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ServiceConfigError(`invalid environment: ${issues}`);
  }
  return parsed.data;
}
