import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient, QueueKeys } from '@sambay/protocol';
import { ApiError } from '../errors/api-error.js';

/** The answer a retry gets again: status, Location and body of the first. */
export interface StoredAnswer {
  status: number;
  location: string;
  body: unknown;
}

type IdempotencyRecord =
  | { state: 'pending'; fingerprint: string; token: string }
  | { state: 'done'; fingerprint: string; answer: StoredAnswer };

/**
 * How long a claim holds while its request is enqueued. Far longer than an enqueue takes; short
 * enough that a key whose API process died mid-request is usable again soon (the retry may then
 * enqueue a second time, if the first enqueue had gone through: the one case not covered).
 */
const PENDING_SECONDS = 30;

/** Deletes the pending record only if it is still this request's (its TTL may have passed and another taken it). */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** What the request holds once it has the key: finish with `complete`, or `release` if it failed. */
export interface Claim {
  complete(answer: StoredAnswer): Promise<void>;
  release(): Promise<void>;
}

/** SHA-256 of the parsed body (a validated job or batch, so JSON): a retry sends the same body, so the same JSON. */
export const fingerprintOf = (body: object): string => createHash('sha256').update(JSON.stringify(body)).digest('hex');

/**
 * Idempotency-Key records (QueueKeys.idempotency). The first request with a key claims it (SET NX
 * of a pending record), so of concurrent duplicates only one enqueues; it then stores its answer
 * for RESULT_TTL_SECONDS. A request whose key is claimed gets that answer (same body), 409 while the
 * first is still being made, or 422 when its body differs from the first's (Stripe's rules).
 */
export class IdempotencyStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: QueueKeys,
    private readonly ttlSeconds: number,
  ) {}

  /** Either this request's claim, or the first request's answer to send again. */
  async claim(
    owner: string | null,
    idempotencyKey: string,
    fingerprint: string,
  ): Promise<{ claim: Claim } | { replay: StoredAnswer }> {
    const key = this.keys.idempotency(owner, createHash('sha256').update(idempotencyKey).digest('hex'));
    const pending = JSON.stringify({ state: 'pending', fingerprint, token: randomUUID() } satisfies IdempotencyRecord);
    // A record may expire between the SET and the GET; then the next SET NX takes it.
    for (;;) {
      if ((await this.redis.set(key, pending, 'EX', PENDING_SECONDS, 'NX')) === 'OK') {
        return { claim: this.claimOf(key, pending, fingerprint) };
      }
      const existing = await this.redis.get(key);
      if (existing === null) continue;
      const record = JSON.parse(existing) as IdempotencyRecord;
      if (record.fingerprint !== fingerprint) {
        throw ApiError.invalidField(
          'Idempotency-Key',
          'this Idempotency-Key was first used with a different request body; use a new key for a new request',
        );
      }
      if (record.state === 'done') return { replay: record.answer };
      throw ApiError.conflict(
        'a request with this Idempotency-Key is still being processed; retry shortly',
        'idempotency_key_in_use',
      );
    }
  }

  private claimOf(key: string, pending: string, fingerprint: string): Claim {
    return {
      complete: async (answer) => {
        const done: IdempotencyRecord = { state: 'done', fingerprint, answer };
        await this.redis.set(key, JSON.stringify(done), 'EX', this.ttlSeconds);
      },
      release: async () => {
        await this.redis.eval(RELEASE, 1, key, pending);
      },
    };
  }
}
