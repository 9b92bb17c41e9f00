import { badField, readSpecialTokenFields, type SpecialTokenFields } from './special-token-fields.js';

/** What a model's config.json says about its vocabulary and special ids; it wins over the tokenizer files. */
export interface TokenizerModelConfig extends SpecialTokenFields {
  vocabSize: number;
}

/**
 * Reads `vocab_size`, `eos_token_id` (an id or a list) and `bos_token_id` from a parsed config.json.
 * The engine's config parser takes these three from here too, so both sides read them one way.
 */
export function tokenizerModelConfig(raw: Record<string, unknown>): TokenizerModelConfig {
  const vocabSize = raw.vocab_size;
  if (!Number.isInteger(vocabSize) || (vocabSize as number) < 1)
    throw badField('config.json', 'vocab_size', 'must be an integer >= 1', vocabSize);
  return { vocabSize: vocabSize as number, ...readSpecialTokenFields(raw, 'config.json') };
}
