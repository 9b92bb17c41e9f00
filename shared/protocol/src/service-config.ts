import { totalmem } from 'node:os';
import { z } from 'zod';
import { parseClusterUrl } from './redis-connection.js';
import { ServiceError } from './service-error.js';

/** A cluster URL must list host:port nodes; any other URL is ioredis' to read, as before. */
function isRedisUrl(url: string): boolean {
  try {
    parseClusterUrl(url);
    return true;
  } catch {
    return false;
  }
}

const int = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** Every environment variable the API and worker read, with its default. */
const schema = z.object({
  /**
   * One Redis (`redis://`, `rediss://` for TLS), or a Redis Cluster: `redis+cluster://host:port,host:port`
   * (`rediss+cluster://` for TLS; user and password as in a URL), any of its nodes: the others are found
   * from them (redis-connection.ts).
   */
  REDIS_URL: z
    .string()
    .default('redis://127.0.0.1:6379')
    .refine(isRedisUrl, { error: 'a cluster is redis+cluster://host:port,host:port' }),
  /**
   * Namespaces every Redis key (queue, streams, channels); tests give each run its own. Keys start
   * with it as a hash tag, `{sambay}:`, so that on a Redis Cluster they share one slot (queue-keys.ts);
   * `sambay` and `{sambay}` name the same keys.
   */
  QUEUE_PREFIX: z
    .string()
    .regex(/^(?:[A-Za-z0-9_-]+|\{[A-Za-z0-9_-]+\})$/)
    .default('sambay'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  MODEL_DIR: z.string().default('.models/tiny'),
  EXECUTION_PROVIDER: z.enum(['cpu', 'cuda', 'webgpu']).default('cpu'),
  /**
   * How the worker holds the model's linear weights and embedding: f32, or weight-only blockwise
   * int8 / int4 (4x / 8x smaller, faster at small batch, less exact: docs/model.md#weight-modes).
   */
  MODEL_WEIGHTS: z.enum(['f32', 'int8', 'int4']).default('f32'),
  /**
   * Where the worker writes the compiled graphs and weights file (external data, memory-mapped);
   * unset: a temporary directory removed when the worker stops.
   */
  MODEL_COMPILE_DIR: z.string().optional(),
  /**
   * Where the worker keeps converted weights files across restarts, keyed by the checkpoint files,
   * MODEL_WEIGHTS and the file format (docs/operations.md#weight-cache); unset: each start converts
   * the checkpoint again.
   */
  MODEL_WEIGHT_CACHE_DIR: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Jobs waiting in the queue beyond which POST /v1/jobs answers 429. */
  MAX_QUEUE_DEPTH: int(10_000),
  /**
   * Longest prompt in tokens (counted by the API with the model's tokenizer): what prefill time and
   * state cost grow with. A longer one is a 422 that says its count.
   */
  MAX_PROMPT_TOKENS: int(8192),
  /** Longest prompt in characters: only bounds the text the token count has to read. */
  MAX_PROMPT_CHARS: int(65_536),
  MAX_TOKENS_LIMIT: int(32_768),
  MAX_BATCH_JOBS: int(256),
  MAX_BODY_BYTES: int(1_048_576),
  /** How long a finished job keeps its text and token stream. */
  RESULT_TTL_SECONDS: int(3600),
  /** Sequences one worker decodes together (its BullMQ concurrency). */
  WORKER_MAX_SEQUENCES: int(8),
  /**
   * Bytes of cached model state one worker's sequences may take, each counted at prompt + max_tokens;
   * requests wait until theirs fits. Default: half the machine's memory.
   */
  WORKER_STATE_BUDGET_BYTES: int(Math.floor(totalmem() / 2)),
  /**
   * Worker only: threads onnxruntime runs one op of the model on. Unset, the worker chooses by the
   * model (services/worker/src/engine/intra-op-threads.ts): every core but one for a small model,
   * whose millisecond steps the main thread's work (BullMQ, stream writes), Redis and the API would
   * compete with, every core for a model of 256 M parameters or more.
   */
  WORKER_INTRA_OP_THREADS: z.coerce.number().int().positive().optional(),
  /**
   * Worker only: prefill work between two decode steps, in tokens. A prompt (or resumed context)
   * longer than this is prefilled a chunk per step, and short prompts are grouped up to it, so the
   * running sequences wait at most one chunk between tokens. Smaller: shorter gaps for them; larger:
   * new requests reach their first token in fewer rounds (docs/benchmarks.md has both sides measured).
   */
  WORKER_PREFILL_CHUNK_TOKENS: int(256),
  /** Tokens are grouped into one Redis write per sequence at most this often. */
  STREAM_FLUSH_MS: int(50),
  SSE_HEARTBEAT_MS: int(15_000),
  /** Time a worker gives active jobs on SIGTERM before it exits (they are retried elsewhere). */
  SHUTDOWN_GRACE_MS: int(10_000),
  /**
   * How long a worker's hold on a job (BullMQ's lock) lasts unrenewed; it is renewed every quarter
   * of this. A killed worker's jobs run again elsewhere at most JOB_LOCK_MS + STALLED_CHECK_MS after
   * its last renewal (4 s by default: docs/protocol.md#worker-deaths). Renewals come from the main
   * thread, which never runs the model, so only a Redis outage longer than 3/4 of it loses a lock.
   */
  JOB_LOCK_MS: int(3000),
  /** How often some worker looks for jobs whose lock expired (BullMQ's stalled check). */
  STALLED_CHECK_MS: int(1000),
  /**
   * Worker deaths (lost locks) one job survives before it fails: deaths are the infrastructure's
   * fault, not the job's, so the limit is high. Errors of the job itself are not counted here.
   */
  WORKER_DEATHS_LIMIT: int(1000),
  /**
   * A running job's engine state is checkpointed to Redis (`QueueKeys.jobCheckpoint`) every this many
   * generated tokens or CHECKPOINT_EVERY_MS, whichever comes first; a resumed attempt imports it and
   * re-feeds only the tokens after it (docs/protocol.md#worker-deaths). Each write replaces the last.
   */
  CHECKPOINT_EVERY_TOKENS: int(1024),
  CHECKPOINT_EVERY_MS: int(5000),
  /**
   * How long a resumed attempt may feed the tokens after its checkpoint (or prompt) by decode steps,
   * which rebuild the earlier attempt's state bit for bit, so the job's output is exactly an
   * uninterrupted run's. Past it (tokens left times the engine's recent step time), they are
   * prefilled: faster, but equal only up to float rounding, which can flip a later sample
   * (docs/protocol.md#resume). 0: always prefill. The default is twice CHECKPOINT_EVERY_MS, so that
   * a checkpoint interval's tokens replay within it even at half the speed they were generated at.
   */
  RESUME_REPLAY_MAX_MS: int(10_000),
  /**
   * Largest checkpoint written, in bytes; 0 turns checkpoints off (resumes re-prefill). A SambaY
   * state grows by one full-attention K/V row per token: the tiny model's is 16.1 MiB at 32K tokens.
   */
  CHECKPOINT_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(32 * 1024 * 1024),
  /** The model id of the OpenAI-compatible API (`GET /v1/models`); unset: MODEL_DIR's base name. */
  SERVED_MODEL_NAME: z.string().optional(),
  /**
   * Where the Batch API keeps uploaded JSONL files and batch output files (docs/openai.md#files).
   * With several API replicas it must be a volume they all share.
   */
  FILES_DIR: z.string().default('.data/files'),
  /** Largest upload to POST /v1/files (OpenAI's own limit for batch files is 200 MB). */
  MAX_FILE_BYTES: int(200 * 1024 * 1024),
  /** Requests (lines) one batch file may hold (OpenAI's limit). */
  MAX_BATCH_LINES: int(50_000),
  /** How long uploaded and batch output files, and finished batches, are kept. */
  FILE_TTL_SECONDS: int(30 * 24 * 3600),
  /** Jobs one OpenAI batch keeps in the queue at once: bounds its share of the queue and its memory. */
  BATCH_WINDOW_JOBS: int(256),
  /** How long a job of a disconnected OpenAI stream waits for the client to reconnect before it is cancelled. */
  STREAM_RESUME_GRACE_MS: int(10_000),
  /**
   * Key that guards the queue dashboard (`/admin/queues`): `Authorization: Bearer <key>`, or HTTP Basic
   * with the key as password (what a browser sends). Unset: the dashboard is open.
   */
  ADMIN_API_KEY: z.string().min(1).optional(),
  /**
   * API only: a JSON file listing the API keys, `[{ "key", "name", "admin"?, "requests_per_minute"?,
   * "max_jobs_in_flight"? }]` (services/api/src/auth/api-keys.ts). With API_KEYS, both lists count.
   * No key in either: open local mode, where every request is served without a key.
   */
  API_KEYS_FILE: z.string().min(1).optional(),
  /** API only: the same JSON list as API_KEYS_FILE, given inline (handy for one or two keys). */
  API_KEYS: z.string().min(1).optional(),
  /** Requests per minute (fixed one-minute windows) of a key that sets no `requests_per_minute`. */
  KEY_REQUESTS_PER_MINUTE: int(600),
  /** Jobs queued or running at once for a key that sets no `max_jobs_in_flight`. */
  KEY_MAX_JOBS_IN_FLIGHT: int(256),
  /** Worker only: port of its `/healthz` and `/readyz` (Kubernetes probes); unset: no health server. */
  HEALTH_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /**
   * Worker only: port of its Prometheus `/metrics` (a server of its own, not HEALTH_PORT's); unset: no
   * metrics server. The API serves `/metrics` on PORT.
   */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
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
