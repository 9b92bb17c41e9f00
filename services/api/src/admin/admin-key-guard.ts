import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

/** The same answer for a missing and a wrong key, and constant-time comparison, so neither leaks the key. */
function sameKey(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The key a request presents: `Authorization: Bearer <key>` (scripts), or HTTP Basic with the key as
 * password and any user name (what a browser sends after its login prompt, on every request of the
 * dashboard's own page and API calls).
 */
export function presentedKey(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const [scheme, value] = authorization.split(' ', 2);
  if (!scheme || !value) return null;
  if (scheme.toLowerCase() === 'bearer') return value.trim();
  if (scheme.toLowerCase() !== 'basic') return null;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/**
 * Lets a request through when no admin key is configured, or when it presents the key; otherwise
 * answers 401 with a Basic challenge, so a browser asks for it. Admin keys from API_KEYS are not
 * accepted here yet: the dashboard has its own key.
 */
export function adminKeyGuard(adminKey: string | undefined): RequestHandler {
  return (req, res, next) => {
    if (adminKey === undefined) {
      next();
      return;
    }
    const key = presentedKey(req.get('authorization'));
    if (key !== null && sameKey(key, adminKey)) {
      next();
      return;
    }
    res
      .status(401)
      .set('www-authenticate', 'Basic realm="sambay admin", charset="UTF-8"')
      .json({
        error: {
          message:
            'the queue dashboard needs the admin key (Authorization: Bearer <key>, or Basic with it as password)',
          type: 'authentication_error',
          param: null,
          code: 'admin_key_required',
        },
      });
  };
}
