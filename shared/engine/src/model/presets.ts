import { EngineError } from '../errors/engine-error.js';
import type { LayerKind } from './config.js';

/**
 * Built-in model sizes (config.json contents). All use the byte-level tokenizer: ids 0-255 are
 * bytes, 256 BOS, 257 EOS. `tiny` is what the service runs by default: it decodes a token in about
 * a millisecond on 2 CPU cores, so tests and demos stream at interactive speed.
 */
const BASE = {
  model_type: 'phi4flash',
  hidden_act: 'silu',
  vocab_size: 258,
  bos_token_id: 256,
  eos_token_id: 257,
  mb_per_layer: 2,
  mamba_d_conv: 4,
  mamba_expand: 2,
  mamba_dt_rank: 'auto',
  layer_norm_eps: 1e-5,
  tie_word_embeddings: true,
};

const PRESETS: Record<string, Record<string, unknown>> = {
  tiny: {
    ...BASE,
    hidden_size: 128,
    intermediate_size: 256,
    num_hidden_layers: 8,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    sliding_window: 64,
    mamba_d_state: 8,
  },
  small: {
    ...BASE,
    hidden_size: 256,
    intermediate_size: 512,
    num_hidden_layers: 16,
    num_attention_heads: 8,
    num_key_value_heads: 4,
    sliding_window: 128,
    mamba_d_state: 16,
  },
};

export const PRESET_NAMES = Object.keys(PRESETS);

export class UnknownPresetError extends EngineError {
  constructor(name: string) {
    super('unknown_preset', `unknown preset ${JSON.stringify(name)}; choose one of ${PRESET_NAMES.join(', ')}`);
  }
}

/** A fresh copy of a preset's config.json object. */
export function presetConfig(name: string): Record<string, unknown> {
  const preset = PRESETS[name];
  if (!preset) throw new UnknownPresetError(name);
  return structuredClone(preset);
}

/** `layer_types` for the Transformer baseline: every layer full attention. */
export const transformerLayerTypes = (numLayers: number): LayerKind[] =>
  Array<LayerKind>(numLayers).fill('full_attention');
