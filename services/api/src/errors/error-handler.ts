import type { Duplex } from 'node:stream';
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

/**
 * A path whose percent-encoding does not decode (`/v1/jobs/%ff`): the router raises the URIError of
 * decodeURIComponent with status 400, which would otherwise read as a body error.
 */
function fromPathDecoding(error: unknown): ApiError | null {
  if (!(error instanceof URIError)) return null;
  return new ApiError('the request path is not valid percent-encoded UTF-8', {
    status: 400,
    type: 'invalid_request_error',
    code: 'invalid_path',
  });
}

export const toEnvelope = (error: ApiError): ErrorEnvelope => ({
  error: { message: error.message, type: error.type, param: error.param, code: error.code },
});

/** The one place an error becomes an HTTP response. Unknown errors are logged and answered as a bare 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return function handleError(error: unknown, req, res, next) {
    const known =
      error instanceof ApiError ? error : (fromPathDecoding(error) ?? fromBodyParser(error as BodyParserError));
    const apiError =
      known ?? new ApiError('internal error', { status: 500, type: 'internal_error', code: 'internal_error' });
    if (!known)
      ((res.locals.log as Logger | undefined) ?? logger).error({ err: error, url: req.originalUrl }, 'unhandled error');
    // An SSE stream has already sent its headers; it reports its own errors as events.
    if (res.headersSent) {
      next(error);
      return;
    }
    if (apiError.retryAfterSeconds !== null) res.set('retry-after', String(apiError.retryAfterSeconds));
    // RFC 9110: a 401 names the scheme the client should use.
    if (apiError.status === 401) res.set('www-authenticate', 'Bearer');
    res.status(apiError.status).json(toEnvelope(apiError));
  };
}

/** What Node's HTTP parser raises for a request it cannot read, by code; anything else is a 400. */
const CLIENT_ERRORS: Record<string, { status: number; reason: string; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    code: 'headers_too_large',
    message: 'the request headers are too large',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    reason: 'Request Timeout',
    code: 'request_timeout',
    message: 'the request was not received in time',
  },
};

/**
 * The server's `clientError` listener: Node's HTTP parser refused the request (a malformed request
 * line or header, headers too large) before Express saw it. Answered in the envelope too, instead of
 * Node's bare `400 Bad Request`; the connection is closed, since the parser cannot go on with it.
 */
export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const known = CLIENT_ERRORS[error.code ?? ''] ?? {
    status: 400,
    reason: 'Bad Request',
    code: 'malformed_request',
    message: 'the request is not valid HTTP/1.1',
  };
  const apiError = new ApiError(known.message, {
    status: known.status,
    type: 'invalid_request_error',
    code: known.code,
  });
  const body = JSON.stringify(toEnvelope(apiError));
  socket.end(
    `HTTP/1.1 ${known.status} ${known.reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
