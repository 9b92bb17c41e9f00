import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { isBatchId, isJobId } from '@sambay/protocol';

/** An incoming x-request-id is kept (so a proxy's id follows the request) when it looks like an id. */
const CLIENT_ID = /^[A-Za-z0-9._-]{1,128}$/;
/** The routes that name a job or a native batch in their path: /v1/jobs/:id[/…], /v1/batches/:id. */
const JOB_PATH = /^\/v1\/jobs\/([^/?#]+)/;
const BATCH_PATH = /^\/v1\/batches\/([^/?#]+)/;

/** `jobId` / `batchId` of the request's path (valid ids only), for every line logged about the request. */
function idsInPath(path: string): { jobId?: string; batchId?: string } {
  const job = JOB_PATH.exec(path)?.[1];
  if (job !== undefined && isJobId(job)) return { jobId: job };
  const batch = BATCH_PATH.exec(path)?.[1];
  if (batch !== undefined && isBatchId(batch)) return { batchId: batch };
  return {};
}

/**
 * Gives each request an id (echoed as x-request-id) and a child logger in `res.locals.log` (with the
 * `jobId` or `batchId` its path names), and logs one line when the response finishes (or the client goes away).
 */
export function requestLogger(logger: Logger): RequestHandler {
  return function logRequest(req, res, next) {
    const incoming = req.get('x-request-id');
    const reqId = incoming && CLIENT_ID.test(incoming) ? incoming : randomUUID();
    const log = logger.child({ req_id: reqId, ...idsInPath(req.path) });
    res.locals.log = log;
    res.setHeader('x-request-id', reqId);
    const started = process.hrtime.bigint();
    res.on('close', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(
        { method: req.method, url: req.originalUrl, status: res.statusCode, ms: Math.round(ms * 10) / 10 },
        'request',
      );
    });
    next();
  };
}
