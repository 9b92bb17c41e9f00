import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { ApiError } from './api-error.js';

export interface ErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: string };
}

/** Errors body-parser raises carry these (http-errors): `type` says which parse step failed. */
interface BodyParserError {
  status?: number;
  type?: string;
  limit?: number;
}

/** Turns what body-parser throws into our errors: bad JSON is 400, an oversized body 413. */
function fromBodyParser(error: BodyParserError): ApiError | null {
  if (error.type === 'entity.parse.failed') {
    return new ApiError('the request body is not valid JSON', {
      status: 400,
      type: 'invalid_request_error',
      code: 'invalid_json',
    });
  }
  if (error.type === 'entity.too.large') {
    return new ApiError(`the request body is larger than ${error.limit} bytes`, {
      status: 413,
      type: 'invalid_request_error',
      code: 'body_too_large',
    });
  }
  if (typeof error.status === 'number' && error.status >= 400 && error.status < 500) {
    return new ApiError('the request body could not be read', {
      status: error.status,
      type: 'invalid_request_error',
      code: error.type ?? 'invalid_body',
    });
  }
  return null;
}

export const toEnvelope = (error: ApiError): ErrorEnvelope => ({
  error: { message: error.message, type: error.type, param: error.param, code: error.code },
});

/** The one place an error becomes an HTTP response. Unknown errors are logged and answered as a bare 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return function handleError(error: unknown, req, res, next) {
    const known = error instanceof ApiError ? error : fromBodyParser(error as BodyParserError);
    const apiError =
      known ?? new ApiError('internal error', { status: 500, type: 'internal_error', code: 'internal_error' });
    if (!known)
      ((res.locals.log as Logger | undefined) ?? logger).error({ err: error, url: req.originalUrl }, 'unhandled error');
    // An SSE stream has already sent its headers; it reports its own errors as events.
    if (res.headersSent) {
      next(error);
      return;
    }
    res.status(apiError.status).json(toEnvelope(apiError));
  };
}
