import { ServiceError } from '@sambay/protocol';

/** The `type` of the error envelope; clients branch on it (and on `code`), never on the message. */
export type ApiErrorType = 'invalid_request_error' | 'not_found' | 'conflict' | 'overloaded' | 'internal_error';

export interface ApiErrorOptions {
  status: number;
  type: ApiErrorType;
  /** Stable machine-readable reason, e.g. `invalid_json`, `job_not_found`. */
  code: string;
  /** The request field at fault, as a path (`jobs[2].temperature`); null when no one field is. */
  param?: string | null;
}

/**
 * Every error the API answers on purpose. It carries everything the envelope
 * `{"error": {message, type, param, code}}` needs; errors/error-handler.ts is the one place that writes it.
 */
export class ApiError extends ServiceError {
  readonly status: number;
  readonly type: ApiErrorType;
  readonly param: string | null;

  constructor(message: string, options: ApiErrorOptions) {
    super(options.code, message);
    this.status = options.status;
    this.type = options.type;
    this.param = options.param ?? null;
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
}
