import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { Router } from 'express';

export interface HealthOptions {
  /** Resolves when Redis answers PING. */
  ping: () => Promise<void>;
  /** @defaultValue MODEL_DIR */
  modelDir: string;
  /** How long readiness waits for Redis. @defaultValue 1000 */
  pingTimeoutMs?: number;
}

interface ModelInfo {
  name: string;
  type: string | null;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what} did not answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}

/** Reads only config.json: loading weights is the worker's job, readiness only says which model this deployment serves. */
async function readModelInfo(modelDir: string): Promise<ModelInfo> {
  const raw = JSON.parse(await readFile(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const name =
    typeof raw._name_or_path === 'string' && raw._name_or_path ? raw._name_or_path : basename(resolve(modelDir));
  return { name, type: typeof raw.model_type === 'string' ? raw.model_type : null };
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** GET /healthz: the process answers. GET /readyz: Redis answers and the model directory has a readable config.json. */
export function healthRouter(options: HealthOptions): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [redis, model] = await Promise.allSettled([
      withTimeout(options.ping(), options.pingTimeoutMs ?? 1000, 'redis'),
      readModelInfo(options.modelDir),
    ]);
    const reasons: string[] = [];
    if (redis.status === 'rejected') reasons.push(`redis: ${reason(redis.reason)}`);
    if (model.status === 'rejected')
      reasons.push(`model: ${join(options.modelDir, 'config.json')}: ${reason(model.reason)}`);
    const modelInfo = model.status === 'fulfilled' ? model.value : null;
    res.status(reasons.length === 0 ? 200 : 503).json({
      status: reasons.length === 0 ? 'ready' : 'unavailable',
      redis: redis.status === 'fulfilled' ? 'ok' : 'unreachable',
      model: modelInfo ? { dir: options.modelDir, ...modelInfo } : null,
      ...(reasons.length > 0 ? { reasons } : {}),
    });
  });
  return router;
}
