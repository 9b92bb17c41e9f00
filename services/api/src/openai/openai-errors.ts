import { ApiError } from '../errors/api-error.js';

/**
 * The errors of the OpenAI-compatible routes. The envelope is the API's own (it already is OpenAI's
 * `{error: {message, type, param, code}}`); what differs is the status: OpenAI answers every invalid
 * request with 400, which its clients raise as BadRequestError.
 */
export const OpenAiError = {
  invalidValue(param: string | null, message: string): ApiError {
    return new ApiError(message, { status: 400, type: 'invalid_request_error', code: 'invalid_value', param });
  },

  /** A parameter this server does not know, or knows and cannot honour: never silently ignored. */
  unsupported(param: string, message?: string): ApiError {
    return new ApiError(message ?? `\`${param}\` is not supported by this server (unrecognized request argument)`, {
      status: 400,
      type: 'invalid_request_error',
      code: 'unsupported_parameter',
      param,
    });
  },

  modelNotFound(model: string, served: string): ApiError {
    return new ApiError(`the model \`${model}\` does not exist; this server serves \`${served}\``, {
      status: 404,
      type: 'invalid_request_error',
      code: 'model_not_found',
      param: 'model',
    });
  },

  notFound(what: 'file' | 'batch' | 'completion', id: string, param: string): ApiError {
    return new ApiError(`no ${what} with id \`${id}\``, {
      status: 404,
      type: 'invalid_request_error',
      code: `${what}_not_found`,
      param,
    });
  },

  /** A job behind an OpenAI request failed; the message is the job's error. */
  jobFailed(message: string): ApiError {
    return new ApiError(message, { status: 500, type: 'internal_error', code: 'job_failed' });
  },
};
