import { join } from 'node:path';
import { readJson } from './read-json.js';
import { readSpecialTokenFields, type SpecialTokenFields } from './special-token-fields.js';
import type { TokenizerModelConfig } from './tokenizer-config.js';

/**
 * What a model's `generation_config.json` says about special ids. Chat models list every id that
 * ends a turn here (Phi-4-mini: `<|end|>` 200020 and `<|endoftext|>` 199999) while their
 * config.json names only `<|endoftext|>`, so stopping on config.json alone runs past `<|end|>`.
 */
export type GenerationConfig = SpecialTokenFields;

/**
 * `generation_config.json` of `modelDir`, or null when it has none. Other fields (sampling
 * defaults, pad id) are ignored: requests carry their own sampling parameters.
 */
export async function readGenerationConfig(modelDir: string): Promise<GenerationConfig | null> {
  const raw = await readJson(join(modelDir, 'generation_config.json'), false);
  return raw === null ? null : readSpecialTokenFields(raw, 'generation_config.json');
}

/**
 * config.json's ids with generation_config.json's added: EOS ids are the union, config.json's
 * first; config.json's BOS wins when both name one.
 */
export function withGenerationConfig(
  config: TokenizerModelConfig,
  generation: GenerationConfig | null,
): TokenizerModelConfig {
  if (generation === null) return config;
  return {
    ...config,
    eosTokenIds: [...new Set([...config.eosTokenIds, ...generation.eosTokenIds])],
    bosTokenId: config.bosTokenId ?? generation.bosTokenId,
  };
}
