import type { RedisClient, QueueKeys } from '@sambay/protocol';

export type BatchStatus =
  'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

export type BatchEndpoint = '/v1/chat/completions' | '/v1/completions';

export interface BatchError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/** What a batch is, fixed at creation. Times are Unix seconds. */
export interface BatchInfo {
  id: string;
  endpoint: BatchEndpoint;
  input_file_id: string;
  completion_window: string;
  created_at: number;
  expires_at: number;
  metadata: Record<string, string> | null;
  /** File ids the driver writes the output and error lines under; published (visible) at the end. */
  output_file: string;
  error_file: string;
}

/**
 * How far the driver got, saved after each group of collected lines: lines before `next_line`
 * (the input up to byte `offset`) have their output or error line written, and the output and
 * error files are `output_bytes` and `error_bytes` long. A driver that resumes truncates the files
 * to these lengths and reads on from `offset`: a line is written exactly once.
 */
export interface BatchProgress {
  next_line: number;
  offset: number;
  output_bytes: number;
  error_bytes: number;
  completed: number;
  failed: number;
  /** The last line whose jobs were submitted: lines after it never ran, which a stopping batch need not check. */
  submitted_line: number;
}

export interface BatchRecord {
  info: BatchInfo;
  /** The name of the key that created it (null: no keys configured); no response shows it. */
  owner: string | null;
  status: BatchStatus;
  /** `{status}_at` for each status reached. */
  times: Partial<Record<BatchStatus, number>>;
  total: number;
  progress: BatchProgress;
  output_file_id: string | null;
  error_file_id: string | null;
  errors: BatchError[] | null;
}

const STATUSES: BatchStatus[] = [
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
];
export const FINAL_BATCH_STATUSES: readonly BatchStatus[] = ['failed', 'completed', 'expired', 'cancelled'];

/** Sets fields only while the status is one of ARGV[1] (a JSON list), so a cancel and the driver never overwrite each other. */
const TRANSITION_SCRIPT = `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
for _, from in ipairs(cjson.decode(ARGV[1])) do
  if from == status then
    redis.call('HSET', KEYS[1], unpack(ARGV, 2))
    return 1
  end
end
return 0
`;

const nowSeconds = () => Math.floor(Date.now() / 1000);
/** Index entries a listing reads per round trip. */
const LIST_STEP = 100;
const PROGRESS_FIELDS = [
  'next_line',
  'offset',
  'output_bytes',
  'error_bytes',
  'completed',
  'failed',
  'submitted_line',
] as const;

/**
 * Batch API batches in Redis: a hash per batch (QueueKeys.openaiBatch) and a sorted set by creation
 * time for listing (QueueKeys.openaiBatches). A batch is kept `ttlSeconds` (its window plus
 * FILE_TTL_SECONDS, like its files) and then expires with its files.
 */
export class BatchStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: QueueKeys,
    private readonly ttlSeconds: number,
  ) {}

  async create(info: BatchInfo, owner: string | null): Promise<void> {
    const key = this.keys.openaiBatch(info.id);
    const progress: Record<string, number> = Object.fromEntries(PROGRESS_FIELDS.map((f) => [f, 0]));
    const fields = { info: JSON.stringify(info), status: 'validating', validating_at: info.created_at, total: 0 };
    await this.redis
      .multi()
      .hset(key, { ...fields, ...(owner === null ? {} : { owner }) })
      .hset(key, { ...progress, next_line: 1 })
      .expire(key, this.ttlSeconds)
      // Scored in ms (created_at is in seconds): batches created in the same second still list newest first.
      .zadd(this.keys.openaiBatches, Date.now(), info.id)
      // The index outlives its newest batch by no more than that batch's record does.
      .expire(this.keys.openaiBatches, this.ttlSeconds)
      .exec();
  }

  async get(id: string): Promise<BatchRecord | null> {
    const hash = await this.redis.hgetall(this.keys.openaiBatch(id));
    if (!hash.info || !hash.status) return null;
    const num = (field: string) => Number(hash[field] ?? 0);
    const times: BatchRecord['times'] = {};
    for (const s of STATUSES) if (hash[`${s}_at`]) times[s] = num(`${s}_at`);
    return {
      info: JSON.parse(hash.info) as BatchInfo,
      owner: hash.owner ?? null,
      status: hash.status as BatchStatus,
      times,
      total: num('total'),
      progress: Object.fromEntries(PROGRESS_FIELDS.map((f) => [f, num(f)])) as unknown as BatchProgress,
      output_file_id: hash.output_file_id || null,
      error_file_id: hash.error_file_id || null,
      errors: hash.errors ? (JSON.parse(hash.errors) as BatchError[]) : null,
    };
  }

  /** Moves the batch to `to` if it is in one of `from`, stamping `{to}_at`; returns whether it moved. */
  async transition(
    id: string,
    from: readonly BatchStatus[],
    to: BatchStatus,
    fields: Record<string, string | number> = {},
  ): Promise<boolean> {
    const args = Object.entries({ ...fields, status: to, [`${to}_at`]: nowSeconds() }).flat();
    const moved = await this.redis.eval(TRANSITION_SCRIPT, 1, this.keys.openaiBatch(id), JSON.stringify(from), ...args);
    return moved === 1;
  }

  async status(id: string): Promise<BatchStatus | null> {
    return (await this.redis.hget(this.keys.openaiBatch(id), 'status')) as BatchStatus | null;
  }

  async saveProgress(id: string, progress: BatchProgress): Promise<void> {
    await this.redis.hset(this.keys.openaiBatch(id), { ...progress });
  }

  /** Recorded before the jobs are enqueued, so it never says less than what was submitted. */
  async saveSubmittedLine(id: string, line: number): Promise<void> {
    await this.redis.hset(this.keys.openaiBatch(id), 'submitted_line', line);
  }

  /**
   * Newest first, only those whose owner `visible` accepts; `after` is the last id of the previous
   * page. The index holds every key's batches, so a page reads it in steps until it has `limit` + 1
   * visible ones (the one more says whether there is a next page) or the index ends. Ids whose batch
   * expired are dropped from the index here.
   */
  async list(
    limit: number,
    after: string | undefined,
    visible: (owner: string | null) => boolean,
  ): Promise<{ data: BatchRecord[]; hasMore: boolean }> {
    const index = this.keys.openaiBatches;
    await this.redis.zremrangebyscore(index, '-inf', (nowSeconds() - this.ttlSeconds) * 1000);
    const rank = after === undefined ? -1 : await this.redis.zrevrank(index, after);
    let start = (rank ?? -1) + 1;
    const found: BatchRecord[] = [];
    for (;;) {
      const ids = await this.redis.zrevrange(index, start, start + LIST_STEP - 1);
      const records = await Promise.all(ids.map((id) => this.get(id)));
      const gone = ids.filter((_, i) => records[i] === null);
      if (gone.length > 0) await this.redis.zrem(index, ...gone);
      found.push(...records.filter((r): r is BatchRecord => r !== null && visible(r.owner)));
      if (found.length > limit || ids.length < LIST_STEP) break;
      start += LIST_STEP - gone.length; // the removed ids no longer take ranks
    }
    return { data: found.slice(0, limit), hasMore: found.length > limit };
  }
}
