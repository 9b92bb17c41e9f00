import { TokenizerError } from './tokenizer-error.js';

/** What a model's config.json says about its vocabulary and special ids; it wins over the tokenizer files. */
export interface TokenizerModelConfig {
  vocabSize: number;
  eosTokenIds: number[];
  bosTokenId: number | null;
}

const isTokenId = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0;

/**
 * Reads `vocab_size`, `eos_token_id` (an id or a list) and `bos_token_id` from a parsed config.json.
 * The engine's config parser takes these three from here too, so both sides read them one way.
 */
export function tokenizerModelConfig(raw: Record<string, unknown>): TokenizerModelConfig {
  const { vocab_size: vocabSize, eos_token_id: eos, bos_token_id: bos } = raw;
  const bad = (field: string, rule: string, value: unknown) =>
    new TokenizerError(
      'invalid_tokenizer_config',
      `config.json: \`${field}\` ${rule}, found ${JSON.stringify(value)}`,
      field,
    );
  if (!Number.isInteger(vocabSize) || (vocabSize as number) < 1)
    throw bad('vocab_size', 'must be an integer >= 1', vocabSize);
  const eosIds = eos === undefined || eos === null ? [] : Array.isArray(eos) ? (eos as unknown[]) : [eos];
  if (!eosIds.every(isTokenId)) throw bad('eos_token_id', 'must be a token id or a list of token ids', eos);
  if (bos !== undefined && bos !== null && !isTokenId(bos)) throw bad('bos_token_id', 'must be a token id', bos);
  return { vocabSize: vocabSize as number, eosTokenIds: eosIds, bosTokenId: bos ?? null };
}
