import type { ChainableCommander } from 'ioredis';
import {
  encodeStreamEvent,
  JobStateField,
  type JobRequest,
  type JobStateFields,
  type QueueKeys,
} from '@sambay/protocol';

/** What every job of one submission shares. */
export interface Submission {
  /** The native batch id, or an OpenAI batch's id for its lines' jobs (the jobs' `batch_id`). */
  label: string | null;
  submittedAt: number;
  /** Name of the submitting API key; null in open mode. */
  owner: string | null;
}

/**
 * KEYS: each job's state hash and stream, in pairs, then the batch hash if there is one. ARGV: TTL,
 * the `queued` event's field and value, then for each hash in KEYS order its number of field/value
 * pairs and the pairs. Each hash and stream gets the TTL.
 */
const SUBMIT_SCRIPT = `
local ttl = ARGV[1]
local at = 4
local function hash(key)
  local n = tonumber(ARGV[at])
  redis.call('HSET', key, unpack(ARGV, at + 1, at + 2 * n))
  redis.call('EXPIRE', key, ttl)
  at = at + 1 + 2 * n
end
local jobs = math.floor(#KEYS / 2)
for i = 1, jobs do
  hash(KEYS[2 * i - 1])
  redis.call('XADD', KEYS[2 * i], '*', ARGV[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2 * i], ttl)
end
if #KEYS % 2 == 1 then hash(KEYS[#KEYS]) end
return jobs
`;

/** KEYS: keys to expire; ARGV: the TTL. */
const EXPIRE_SCRIPT = `for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[1]) end return #KEYS`;

const pairs = (fields: Record<string, string>) => {
  const flat = Object.entries(fields).flat();
  return [String(flat.length / 2), ...flat];
};

/** A job's submission fields in its state hash: what keeps it describable after BullMQ drops its record. */
function stateFields(request: JobRequest, s: Submission): JobStateFields {
  return {
    [JobStateField.status]: 'queued',
    [JobStateField.submittedAt]: String(s.submittedAt),
    [JobStateField.maxTokens]: String(request.max_tokens),
    [JobStateField.metadata]: JSON.stringify(request.metadata),
    ...(s.label ? { [JobStateField.batchId]: s.label } : {}),
    ...(s.owner ? { [JobStateField.owner]: s.owner } : {}),
  };
}

/**
 * Queues one script that writes every job's state hash and `queued` stream event (and the batch
 * record), with the pending TTL: one command for the whole submission instead of four per job,
 * which is most of what an enqueue costs the API (docs/benchmarks.md#job-submission-the-api-against-raw-bullmq).
 */
export function queueSubmissionWrites(
  multi: ChainableCommander,
  keys: QueueKeys,
  jobs: { id: string; request: JobRequest }[],
  submission: Submission,
  batch: { id: string; fields: Record<string, string> } | null,
  ttlSeconds: number,
): void {
  const hashKeys = jobs.flatMap(({ id }) => [keys.jobState(id), keys.jobStream(id)]);
  const hashes = jobs.flatMap(({ request }) => pairs(stateFields(request, submission)));
  if (batch) {
    hashKeys.push(keys.batch(batch.id));
    hashes.push(...pairs(batch.fields));
  }
  const queued = encodeStreamEvent({ type: 'status', status: 'queued' });
  multi.eval(SUBMIT_SCRIPT, hashKeys.length, ...hashKeys, ttlSeconds, ...queued, ...hashes);
}

/** Queues one script that gives every key the TTL (BullMQ's job hashes, once BullMQ has written them). */
export function queueExpire(multi: ChainableCommander, expiring: string[], ttlSeconds: number): void {
  multi.eval(EXPIRE_SCRIPT, expiring.length, ...expiring, ttlSeconds);
}
