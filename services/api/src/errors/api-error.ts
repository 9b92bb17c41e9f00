import { ServiceError } from '@sambay/protocol';

/** The `type` of the error envelope; clients branch on it (and on `code`), never on the message. */
export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'overloaded'
  | 'unavailable'
  | 'internal_error';

export interface ApiErrorOptions {
  status: number;
  type: ApiErrorType;
  /** Stable machine-readable reason, e.g. `invalid_json`, `job_not_found`. */
  code: string;
  /** The request field at fault, as a path (`jobs[2].temperature`); null when no one field is. */
  param?: string | null;
  /** Seconds after which a retry may succeed: sent as `Retry-After` (429s). */
  retryAfterSeconds?: number;
}

/**
 * Every error the API answers on purpose. It carries everything the envelope
 * `{"error": {message, type, param, code}}` needs; errors/error-handler.ts is the one place that writes it.
 */
export class ApiError extends ServiceError {
  readonly status: number;
  readonly type: ApiErrorType;
  readonly param: string | null;
  readonly retryAfterSeconds: number | null;

  constructor(message: string, options: ApiErrorOptions) {
    super(options.code, message);
    this.status = options.status;
    this.type = options.type;
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }

  static invalidField(param: string | null, message: string): ApiError {
    return new ApiError(message, { status: 422, type: 'invalid_request_error', code: 'invalid_field', param });
  }

  static notFound(what: 'job' | 'batch' | 'route', id: string): ApiError {
    const message = what === 'route' ? `no route ${id}` : `no ${what} with id \`${id}\``;
    return new ApiError(message, {
      status: 404,
      type: 'not_found',
      code: `${what}_not_found`,
      param: what === 'route' ? null : 'id',
    });
  }

  static overloaded(depth: number, limit: number): ApiError {
    return new ApiError(`the queue holds ${depth} waiting jobs; it accepts at most ${limit}, retry later`, {
      status: 429,
      type: 'overloaded',
      code: 'queue_full',
    });
  }

  static conflict(message: string, code: string): ApiError {
    return new ApiError(message, { status: 409, type: 'conflict', code });
  }

  /** 401: keys are configured and the request carries none (`missing_api_key`) or an unknown one (`invalid_api_key`). */
  static unauthorized(code: 'missing_api_key' | 'invalid_api_key'): ApiError {
    const message =
      code === 'missing_api_key'
        ? 'this API needs a key: send `Authorization: Bearer <key>`'
        : 'the API key in `Authorization: Bearer <key>` is not a known key';
    return new ApiError(message, { status: 401, type: 'authentication_error', code });
  }

  /** 503: something the request needs (the model's tokenizer) cannot be had yet; retrying later may work. */
  static unavailable(message: string, code: string): ApiError {
    return new ApiError(message, { status: 503, type: 'unavailable', code });
  }

  /** 429 for a key over one of its own limits (`code` says which); the client retries after `retryAfterSeconds`. */
  static rateLimited(message: string, code: string, retryAfterSeconds: number): ApiError {
    return new ApiError(message, { status: 429, type: 'rate_limited', code, retryAfterSeconds });
  }
}
