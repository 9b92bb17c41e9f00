import { type RedisClient, JobStateField, type JobStatus, type QueueKeys } from '@sambay/protocol';
import { ApiError } from '../errors/api-error.js';
import { isFinished } from '../queue/job-view.js';
import type { ApiKey } from './api-keys.js';

/**
 * A reservation whose job has no state hash yet is being enqueued right now; older than this, the
 * enqueue failed (or the job expired) and the reservation is dropped.
 */
const ENQUEUE_GRACE_MS = 60_000;

/** What a client over its in-flight limit is told to wait: jobs end at times nobody knows in advance. */
const RETRY_AFTER_SECONDS = 5;

/**
 * Adds the ids to the key's set only if the set stays within the limit, so two submissions at once
 * cannot both take the last places. KEYS[1]: the set; ARGV: limit, now (ms), TTL (s), ids. Returns
 * -1 when added, else the number of jobs already in flight.
 */
const RESERVE = `
local n = redis.call('ZCARD', KEYS[1])
if n + #ARGV - 3 > tonumber(ARGV[1]) then return n end
for i = 4, #ARGV do redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return -1
`;

/**
 * Each key's jobs that are queued or running, as a set of job ids (QueueKeys.jobsInFlight) pruned
 * by the jobs' own status before each submission. Nothing has to decrement anything when a job
 * ends, whoever ends it (a worker, BullMQ, a cancel), so the count cannot drift.
 */
export class JobsInFlight {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: QueueKeys,
    /** How long the set lives after its last submission: as long as the jobs' own pending keys. */
    private readonly ttlSeconds: number,
  ) {}

  /** Takes places for `ids` under the key's `max_jobs_in_flight`: 429 with Retry-After when they do not fit. */
  async reserve(key: ApiKey, ids: string[]): Promise<void> {
    const limit = key.maxJobsInFlight;
    if (ids.length > limit) {
      throw ApiError.invalidField('jobs', `the key \`${key.name}\` may have at most ${limit} jobs in flight`);
    }
    await this.prune(key.name);
    const set = this.keys.jobsInFlight(key.name);
    const inFlight = Number(await this.redis.eval(RESERVE, 1, set, limit, Date.now(), this.ttlSeconds, ...ids));
    if (inFlight >= 0) {
      throw ApiError.rateLimited(
        `the key \`${key.name}\` has ${inFlight} jobs queued or running and may have at most ${limit}; retry when some end`,
        'too_many_jobs_in_flight',
        RETRY_AFTER_SECONDS,
      );
    }
  }

  /** Gives the places back (the enqueue failed). */
  async release(owner: string, ids: string[]): Promise<void> {
    await this.redis.zrem(this.keys.jobsInFlight(owner), ...ids);
  }

  /** Drops the ids of jobs that ended or expired. */
  private async prune(owner: string): Promise<void> {
    const set = this.keys.jobsInFlight(owner);
    const flat = await this.redis.zrange(set, 0, -1, 'WITHSCORES');
    if (flat.length === 0) return;
    const ids = flat.filter((_, i) => i % 2 === 0);
    const pipe = this.redis.pipeline();
    for (const id of ids) pipe.hget(this.keys.jobState(id), JobStateField.status);
    const statuses = ((await pipe.exec()) ?? []).map(([, status]) => status as JobStatus | null);
    const graceEnd = Date.now() - ENQUEUE_GRACE_MS;
    const ended = ids.filter((_, i) => {
      const status = statuses[i];
      return status ? isFinished(status) : Number(flat[2 * i + 1]) < graceEnd;
    });
    if (ended.length > 0) await this.redis.zrem(set, ...ended);
  }
}
