import type { Request } from 'express';
import { OpenAiError } from '../openai/openai-errors.js';

/** `limit` (1..max) and `after` of a list endpoint's cursor pagination. */
export function pageQuery(req: Request, defaultLimit: number, maxLimit: number): { limit: number; after?: string } {
  const { limit, after } = req.query;
  const parsed = limit === undefined ? defaultLimit : Number(limit);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > maxLimit)
    throw OpenAiError.invalidValue('limit', `\`limit\` must be an integer from 1 to ${maxLimit}`);
  if (after !== undefined && typeof after !== 'string')
    throw OpenAiError.invalidValue('after', '`after` must be an id from the previous page');
  return { limit: parsed, ...(after ? { after } : {}) };
}

/** OpenAI's list envelope. */
export const listBody = <T extends { id: string }>(data: T[], hasMore: boolean) => ({
  object: 'list' as const,
  data,
  first_id: data[0]?.id ?? null,
  last_id: data.at(-1)?.id ?? null,
  has_more: hasMore,
});
