import { ApiError } from '../errors/api-error.js';
import type { ErrorEnvelope } from '../errors/error-handler.js';
import { OpenAiError } from '../openai/openai-errors.js';
import type { OpenAiRequest, OpenAiRequestParser } from '../openai/openai-request.js';
import type { PromptTokenLimit } from '../validation/prompt-token-limit.js';
import type { BatchEndpoint } from './batch-store.js';

/** Batch lines queue below online requests (priority 0), so a big batch never starves interactive use. */
export const BATCH_PRIORITY = -100;

/** Why a line has no response: OpenAI's error file carries either a response (an HTTP error) or a bare error. */
export type LineFailure =
  { kind: 'response'; statusCode: number; body: ErrorEnvelope } | { kind: 'error'; code: string; message: string };

export type ParsedLine =
  { ok: true; customId: string; request: OpenAiRequest } | { ok: false; customId: string | null; failure: LineFailure };

const bare = (code: string, message: string): LineFailure => ({ kind: 'error', code, message });

const asResponse = (error: ApiError): LineFailure => ({
  kind: 'response',
  statusCode: error.status,
  body: { error: { message: error.message, type: error.type, param: error.param, code: error.code } },
});

/**
 * One input line, `{"custom_id", "method": "POST", "url", "body"}`, validated as its endpoint
 * validates a request, prompt tokens included: a bad line fails alone, into the error file. A
 * tokenizer that cannot load fails the pass instead (503), so the line is tried again.
 */
export async function parseBatchLine(
  text: string,
  endpoint: BatchEndpoint,
  { parser, promptLimit }: { parser: OpenAiRequestParser; promptLimit: PromptTokenLimit },
): Promise<ParsedLine> {
  let line: unknown;
  try {
    line = JSON.parse(text);
  } catch {
    return { ok: false, customId: null, failure: bare('invalid_json_line', 'the line is not valid JSON') };
  }
  if (typeof line !== 'object' || line === null || Array.isArray(line))
    return { ok: false, customId: null, failure: bare('invalid_request', 'the line must be a JSON object') };
  const { custom_id: customId, method, url, body } = line as Record<string, unknown>;
  if (typeof customId !== 'string' || customId === '')
    return { ok: false, customId: null, failure: bare('missing_custom_id', 'the line needs a `custom_id` string') };
  const fail = (failure: LineFailure): ParsedLine => ({ ok: false, customId, failure });
  if (method !== 'POST') return fail(bare('invalid_method', '`method` must be `POST`'));
  if (url !== endpoint) return fail(bare('mismatched_url', `\`url\` must be the batch's endpoint, \`${endpoint}\``));
  try {
    const request =
      endpoint === '/v1/chat/completions'
        ? await parser.chat(body, BATCH_PRIORITY)
        : parser.completion(body, BATCH_PRIORITY);
    if (request.stream) return fail(bare('invalid_request', '`stream` is not allowed in a batch line'));
    const param = endpoint === '/v1/chat/completions' ? 'messages' : 'prompt';
    const prompts = request.requests.map((job) => ({ param, text: job.prompt }));
    await promptLimit.check(prompts, (p, message) => OpenAiError.invalidValue(p, message));
    return { ok: true, customId, request };
  } catch (error) {
    if (error instanceof ApiError && error.status !== 503) return fail(asResponse(error));
    throw error;
  }
}
