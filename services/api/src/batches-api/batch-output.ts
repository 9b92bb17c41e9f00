import type { LineFailure } from './batch-line.js';

/** One line of a batch's output file (a response) or error file (an error response or a bare error). */
export type OutputLine = { file: 'output'; json: string } | { file: 'error'; json: string };

/** OpenAI's output line: `{id, custom_id, response: {status_code, request_id, body}, error: null}`. */
export function responseLine(id: string, customId: string, requestId: string, body: unknown): OutputLine {
  const line = { id, custom_id: customId, response: { status_code: 200, request_id: requestId, body }, error: null };
  return { file: 'output', json: JSON.stringify(line) };
}

/** OpenAI's error line: the failed response, or `response: null` and `error: {code, message}`. */
export function errorLine(
  id: string,
  customId: string | null,
  failure: LineFailure,
  requestId: string | null,
): OutputLine {
  const line =
    failure.kind === 'response'
      ? {
          id,
          custom_id: customId,
          response: { status_code: failure.statusCode, request_id: requestId, body: failure.body },
          error: null,
        }
      : { id, custom_id: customId, response: null, error: { code: failure.code, message: failure.message } };
  return { file: 'error', json: JSON.stringify(line) };
}
