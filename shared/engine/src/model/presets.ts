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

/**
 * config.json of microsoft/Phi-4-mini-flash-reasoning, field for field as published (3.8 B
 * parameters; 7.7 GB in bf16). For benchmarks with random weights: `init-model --preset
 * phi4-mini-flash --dtype bf16`. Its tokenizer is not the byte tokenizer: without a tokenizer.json
 * the byte tokenizer serves ids 0-257 of its vocabulary.
 */
PRESETS['phi4-mini-flash'] = {
  _name_or_path: 'Phi4-mini-flash-reasoning',
  architectures: ['Phi4FlashForCausalLM'],
  attention_dropout: 0.0,
  auto_map: {
    AutoConfig: 'configuration_phi4flash.Phi4FlashConfig',
    AutoModelForCausalLM: 'modeling_phi4flash.Phi4FlashForCausalLM',
  },
  bos_token_id: 199999,
  embd_pdrop: 0.0,
  eos_token_id: 199999,
  hidden_act: 'silu',
  hidden_size: 2560,
  initializer_range: 0.02,
  intermediate_size: 10240,
  layer_norm_eps: 1e-5,
  lm_head_bias: false,
  mamba_conv_bias: true,
  mamba_d_conv: 4,
  mamba_d_state: 16,
  mamba_dt_rank: 160,
  mamba_expand: 2,
  mamba_proj_bias: false,
  max_position_embeddings: 262144,
  mb_per_layer: 2,
  mlp_bias: false,
  model_type: 'phi4flash',
  num_attention_heads: 40,
  num_hidden_layers: 32,
  num_key_value_heads: 20,
  pad_token_id: 199999,
  resid_pdrop: 0.0,
  sliding_window: 512,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.46.1',
  use_cache: true,
  vocab_size: 200064,
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
