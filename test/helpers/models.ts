import { initWeights, type ModelSpec, parseConfig, planLayers, presetConfig } from '@sambay/engine/model';

/**
 * Tiny SambaY models for tests: small enough that the pure-TypeScript reference runs a 100-token
 * sequence in well under a second, big enough that every block (GQA, stripes, Mamba state) is
 * non-trivial.
 */

const DEFAULTS: Record<string, unknown> = {
  model_type: 'phi4flash',
  vocab_size: 64,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 8,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  sliding_window: 5,
  mamba_d_state: 4,
  mamba_d_conv: 4,
  mamba_expand: 2,
  eos_token_id: 1,
  bos_token_id: 0,
  tie_word_embeddings: true,
};

/** A config.json object: the defaults above with `overrides` merged in; an `undefined` override deletes the key. */
export function rawConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return Object.fromEntries(Object.entries({ ...DEFAULTS, ...overrides }).filter(([, value]) => value !== undefined));
}

/** Validated config, layer plan and deterministic weights (the same `seed` gives the same weights). */
export function tinySpec(overrides: Record<string, unknown> = {}, seed = 1): ModelSpec {
  const config = parseConfig(rawConfig(overrides));
  const plan = planLayers(config);
  return { config, plan, weights: initWeights(config, plan, seed) };
}

/** A byte-level model (the byte tokenizer's 258 ids) small enough to decode hundreds of tokens in well under a second. */
export const byteModelConfig = () =>
  rawConfig({ vocab_size: 258, intermediate_size: 64, sliding_window: 8, bos_token_id: 256, eos_token_id: 257 });

/** A preset's config and layer plan (no weights), `overrides` merged into its config.json. */
export function presetModel(preset: string, overrides: Record<string, unknown> = {}) {
  const config = parseConfig({ ...presetConfig(preset), ...overrides });
  return { config, plan: planLayers(config) };
}
