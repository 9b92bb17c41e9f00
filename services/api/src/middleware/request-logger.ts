import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

/** An incoming x-request-id is kept (so a proxy's id follows the request) when it looks like an id. */
const CLIENT_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Gives each request an id (echoed as x-request-id) and a child logger in `res.locals.log`,
 * and logs one line when the response finishes (or the client goes away).
 */
export function requestLogger(logger: Logger): RequestHandler {
  return function logRequest(req, res, next) {
    const incoming = req.get('x-request-id');
    const reqId = incoming && CLIENT_ID.test(incoming) ? incoming : randomUUID();
    const log = logger.child({ req_id: reqId });
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
