import type { RequestHandler } from 'express';
import type { RedisClient, QueueKeys } from '@sambay/protocol';
import { ApiError } from '../errors/api-error.js';
import { callerOf } from './caller.js';

const WINDOW_MS = 60_000;

/**
 * Counts each key's requests in fixed one-minute windows (one INCR per request, shared by every
 * API instance through Redis) and answers 429 with `Retry-After` (the seconds left in the window)
 * past the key's `requests_per_minute`. A fixed window lets a burst of twice the limit straddle a
 * window edge; for a per-minute quota that is accepted in exchange for one counter per key.
 */
export function limitRequestRate(redis: RedisClient, keys: QueueKeys): RequestHandler {
  return async function countRequest(_req, res, next) {
    const caller = callerOf(res);
    if (caller.kind === 'open') {
      next();
      return;
    }
    const now = Date.now();
    const window = Math.floor(now / WINDOW_MS);
    const counter = keys.requestWindow(caller.key.name, window);
    // The counter outlives its window by one more, so clocks a little apart between instances still share it.
    const [incr] =
      (await redis
        .multi()
        .incr(counter)
        .pexpire(counter, 2 * WINDOW_MS)
        .exec()) ?? [];
    const count = Number(incr?.[1]);
    const limit = caller.key.requestsPerMinute;
    if (count > limit) {
      const retryAfter = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now) / 1000));
      throw ApiError.rateLimited(
        `the key \`${caller.key.name}\` may send ${limit} requests a minute; retry in ${retryAfter} s`,
        'rate_limit_exceeded',
        retryAfter,
      );
    }
    next();
  };
}
