import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ApiError } from '../errors/api-error.js';
import type { ApiKey } from './api-keys.js';
import { setCaller } from './caller.js';

const BEARER = /^Bearer +(\S+) *$/i;

/** The configured key equal to `given`, compared in constant time so the answer's timing leaks no key. */
function findKey(keys: Map<string, ApiKey>, given: string): ApiKey | null {
  const presented = Buffer.from(given);
  let found: ApiKey | null = null;
  for (const [key, value] of keys) {
    const candidate = Buffer.from(key);
    if (candidate.length === presented.length && timingSafeEqual(candidate, presented)) found = value;
  }
  return found;
}

/**
 * Requires `Authorization: Bearer <key>` with a configured key and records the caller for the
 * routes after it; 401 in the error envelope otherwise. With no keys configured it lets every
 * request through as the open caller.
 */
export function authenticate(keys: Map<string, ApiKey> | null): RequestHandler {
  return function checkApiKey(req, res, next) {
    if (keys === null) {
      setCaller(res, { kind: 'open' });
      next();
      return;
    }
    const header = req.get('authorization');
    if (header === undefined) throw ApiError.unauthorized('missing_api_key');
    const key = findKey(keys, BEARER.exec(header)?.[1] ?? '');
    if (key === null) throw ApiError.unauthorized('invalid_api_key');
    setCaller(res, { kind: 'key', key });
    next();
  };
}
