import { TokenizerError } from './tokenizer-error.js';

/** `eos_token_id` and `bos_token_id` as Hugging Face's config files spell them. */
export interface SpecialTokenFields {
  /** Empty when the file names none. */
  eosTokenIds: number[];
  bosTokenId: number | null;
}

const isTokenId = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0;

/**
 * Reads `eos_token_id` (an id or a list) and `bos_token_id` from a parsed config.json or
 * generation_config.json, so both files follow one rule. Errors name the file and the field.
 */
export function readSpecialTokenFields(raw: Record<string, unknown>, file: string): SpecialTokenFields {
  const { eos_token_id: eos, bos_token_id: bos } = raw;
  const eosIds = eos === undefined || eos === null ? [] : Array.isArray(eos) ? (eos as unknown[]) : [eos];
  if (!eosIds.every(isTokenId)) throw badField(file, 'eos_token_id', 'must be a token id or a list of token ids', eos);
  if (bos !== undefined && bos !== null && !isTokenId(bos))
    throw badField(file, 'bos_token_id', 'must be a token id', bos);
  return { eosTokenIds: eosIds, bosTokenId: bos ?? null };
}

/** The message format the engine's config parser strips down to the rule (`file: \`field\` `). */
export function badField(file: string, field: string, rule: string, value: unknown): TokenizerError {
  return new TokenizerError(
    'invalid_tokenizer_config',
    `${file}: \`${field}\` ${rule}, found ${JSON.stringify(value)}`,
    field,
  );
}
