import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ServiceError, type ServiceConfig } from '@sambay/protocol';

/** What one key may do. Limits come from the key's entry, else from KEY_REQUESTS_PER_MINUTE / KEY_MAX_JOBS_IN_FLIGHT. */
export interface ApiKey {
  /** Who the key belongs to: jobs record it as their owner, logs and Redis keys use it. */
  name: string;
  /** Sees and cancels every job, not only its own. */
  admin: boolean;
  requestsPerMinute: number;
  maxJobsInFlight: number;
}

/**
 * One entry of API_KEYS_FILE or API_KEYS. Names are short and plain because they go into Redis key
 * names; keys are long enough not to be guessed.
 */
const entry = z.strictObject({
  key: z.string().min(16, 'must be at least 16 characters').max(256),
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . -'),
  admin: z.boolean().default(false),
  requests_per_minute: z.number().int().positive().optional(),
  max_jobs_in_flight: z.number().int().positive().optional(),
});
const entries = z.array(entry);

/** API_KEYS_FILE or API_KEYS is unusable; the API does not start. */
export class ApiKeyConfigError extends ServiceError {
  constructor(message: string) {
    super('invalid_api_keys', message);
  }
}

function parseEntries(source: string, text: string): z.infer<typeof entries> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ApiKeyConfigError(`${source} is not valid JSON`);
  }
  const parsed = entries.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ApiKeyConfigError(`${source}: [${issue.path.join('.')}] ${issue.message}`);
  }
  return parsed.data;
}

/**
 * The configured keys by key string, from API_KEYS_FILE and API_KEYS together; null when neither
 * names any key (open local mode). Read once at start; a malformed list, or a key or name given
 * twice, stops the API from starting rather than serving with a key missing.
 */
export async function loadApiKeys(config: ServiceConfig): Promise<Map<string, ApiKey> | null> {
  const listed = [
    ...(config.API_KEYS_FILE
      ? parseEntries(`API_KEYS_FILE ${config.API_KEYS_FILE}`, await readFile(config.API_KEYS_FILE, 'utf8'))
      : []),
    ...(config.API_KEYS ? parseEntries('API_KEYS', config.API_KEYS) : []),
  ];
  if (listed.length === 0) return null;
  const byKey = new Map<string, ApiKey>();
  const names = new Set<string>();
  for (const e of listed) {
    if (byKey.has(e.key)) throw new ApiKeyConfigError(`the key of \`${e.name}\` is listed twice`);
    if (names.has(e.name)) throw new ApiKeyConfigError(`two keys are named \`${e.name}\``);
    names.add(e.name);
    byKey.set(e.key, {
      name: e.name,
      admin: e.admin,
      requestsPerMinute: e.requests_per_minute ?? config.KEY_REQUESTS_PER_MINUTE,
      maxJobsInFlight: e.max_jobs_in_flight ?? config.KEY_MAX_JOBS_IN_FLIGHT,
    });
  }
  return byKey;
}
