import { TokenizerError, tokenizerModelConfig, type TokenizerModelConfig } from '@sambay/tokenizer';
import { ConfigError } from './model-errors.js';

/** The mixer kinds a layer can have. `layer_types` in config.json uses these names. */
export const LAYER_KINDS = ['mamba', 'sliding_attention', 'full_attention', 'gmu', 'cross_attention'] as const;
export type LayerKind = (typeof LAYER_KINDS)[number];

export interface MambaConfig {
  dState: number; // N
  dConv: number; // causal conv width
  expand: number;
  dInner: number; // expand * hidden
  dtRank: number; // ceil(hidden / 16) unless given
  convBias: boolean;
}

/** config.json (Hugging Face `phi4flash` fields), validated and normalised. */
export interface ModelConfig {
  vocabSize: number;
  hiddenSize: number; // d
  intermediateSize: number; // MLP width; fc1 is d -> 2 * intermediate
  numLayers: number; // L
  numHeads: number; // H query heads
  numKvHeads: number; // KV heads (GQA)
  headDim: number; // d / H
  slidingWindow: number; // W: a query sees itself and the previous W - 1 tokens
  mbPerLayer: number;
  mamba: MambaConfig;
  layerNormEps: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** Explicit per-layer plan (config.json `layer_types`); null means the SambaY rules decide. */
  layerTypes: LayerKind[] | null;
  /** Fields this engine neither reads nor knowingly ignores (the loader reports them). */
  unknownFields: string[];
}

/** Every config.json field read above, plus the tokenizer fields read by @sambay/tokenizer. */
const READ_FIELDS = [
  'model_type',
  'hidden_act',
  'hidden_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'intermediate_size',
  'sliding_window',
  'mb_per_layer',
  'mamba_d_state',
  'mamba_d_conv',
  'mamba_expand',
  'mamba_dt_rank',
  'mamba_conv_bias',
  'mamba_proj_bias',
  'mlp_bias',
  'lm_head_bias',
  'layer_norm_eps',
  'tie_word_embeddings',
  'layer_types',
  'vocab_size',
  'eos_token_id',
  'bos_token_id',
];

/**
 * Fields of the published config.json that do not change inference here, and why:
 * Hugging Face loading metadata; training-only dropout and init; `use_cache` (this engine always
 * caches); `max_position_embeddings` (NoPE: there is no position table, a context is bounded by the
 * worker's state budget instead); `pad_token_id` (batches are padded by lengths, not a token);
 * `torch_dtype` (every dtype is converted at load).
 */
const IGNORED_FIELDS = [
  '_name_or_path',
  'architectures',
  'auto_map',
  'transformers_version',
  'torch_dtype',
  'initializer_range',
  'attention_dropout',
  'embd_pdrop',
  'resid_pdrop',
  'use_cache',
  'max_position_embeddings',
  'pad_token_id',
];

type Json = Record<string, unknown>;

function int(raw: Json, field: string, fallback?: number, min = 1): number {
  const value = raw[field] ?? fallback;
  if (value === undefined) throw new ConfigError(field, 'is missing');
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ConfigError(field, `must be an integer, found ${JSON.stringify(value)}`);
  }
  if (value < min) throw new ConfigError(field, `must be >= ${min}, found ${value}`);
  return value;
}

function bool(raw: Json, field: string, fallback: boolean): boolean {
  const value = raw[field] ?? fallback;
  if (typeof value !== 'boolean') throw new ConfigError(field, `must be true or false, found ${JSON.stringify(value)}`);
  return value;
}

function positive(raw: Json, field: string, fallback: number): number {
  const value = raw[field] ?? fallback;
  if (typeof value !== 'number' || !(value > 0)) {
    throw new ConfigError(field, `must be a positive number, found ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * `sliding_window` is an integer in the hub's config.json, but `save_pretrained` of the remote
 * config class writes the per-layer list (null for layers without a window); accept both.
 */
function slidingWindow(raw: Json): number {
  const value = raw.sliding_window;
  if (Array.isArray(value)) {
    const windows = [...new Set(value.filter((w) => w !== null))];
    if (windows.length !== 1) {
      throw new ConfigError(
        'sliding_window',
        `as a list must hold one window size besides nulls, found ${JSON.stringify(windows)}`,
      );
    }
    return int({ sliding_window: windows[0] }, 'sliding_window', undefined, 2);
  }
  return int(raw, 'sliding_window', undefined, 2);
}

function layerTypes(raw: Json, numLayers: number): LayerKind[] | null {
  const value = raw.layer_types;
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || value.length !== numLayers) {
    throw new ConfigError('layer_types', `must be a list of ${numLayers} layer kinds (one per layer)`);
  }
  for (const [i, kind] of value.entries()) {
    if (!(LAYER_KINDS as readonly unknown[]).includes(kind)) {
      throw new ConfigError(
        `layer_types[${i}]`,
        `must be one of ${LAYER_KINDS.join(', ')}, found ${JSON.stringify(kind)}`,
      );
    }
  }
  return value as LayerKind[];
}

/** Validates a parsed config.json; every error names the field at fault. */
/** vocab_size, eos_token_id and bos_token_id, read as the tokenizer package reads them for the API. */
function vocabularyFields(json: Json): TokenizerModelConfig {
  try {
    return tokenizerModelConfig(json);
  } catch (error) {
    if (error instanceof TokenizerError)
      throw new ConfigError(error.field ?? '(root)', error.message.replace(/^config\.json: `[^`]+` /, ''));
    throw error;
  }
}

export function parseConfig(raw: unknown): ModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError('(root)', 'must be a JSON object');
  }
  const json = raw as Json;
  if (json.model_type !== undefined && json.model_type !== 'phi4flash') {
    throw new ConfigError('model_type', `must be "phi4flash", found ${JSON.stringify(json.model_type)}`);
  }
  const act = json.hidden_act ?? 'silu';
  if (act !== 'silu') throw new ConfigError('hidden_act', `must be "silu", found ${JSON.stringify(act)}`);

  const hiddenSize = int(json, 'hidden_size');
  const numLayers = int(json, 'num_hidden_layers');
  const numHeads = int(json, 'num_attention_heads');
  const numKvHeads = int(json, 'num_key_value_heads', numHeads);
  const types = layerTypes(json, numLayers);
  if (types === null && numLayers % 4 !== 0) {
    throw new ConfigError('num_hidden_layers', `must be divisible by 4 for the SambaY layout, found ${numLayers}`);
  }
  if (hiddenSize % numHeads !== 0) {
    throw new ConfigError('hidden_size', `(${hiddenSize}) must be divisible by num_attention_heads (${numHeads})`);
  }
  // Differential attention splits query and KV heads into two stripes.
  if (numHeads % 2 !== 0)
    throw new ConfigError('num_attention_heads', `must be even for differential attention, found ${numHeads}`);
  if (numKvHeads % 2 !== 0)
    throw new ConfigError('num_key_value_heads', `must be even for differential attention, found ${numKvHeads}`);
  if (numHeads % numKvHeads !== 0) {
    throw new ConfigError('num_key_value_heads', `(${numKvHeads}) must divide num_attention_heads (${numHeads})`);
  }
  const mbPerLayer = int(json, 'mb_per_layer', 2);
  if (types === null && mbPerLayer !== 2) {
    throw new ConfigError('mb_per_layer', `must be 2 for the SambaY layout (or give layer_types), found ${mbPerLayer}`);
  }
  const expand = int(json, 'mamba_expand', 2);
  const dtRankRaw = json.mamba_dt_rank ?? 'auto';
  const dtRank = dtRankRaw === 'auto' ? Math.ceil(hiddenSize / 16) : int(json, 'mamba_dt_rank');
  const tieWordEmbeddings = bool(json, 'tie_word_embeddings', true);
  if (bool(json, 'mlp_bias', false))
    throw new ConfigError('mlp_bias', 'must be false (Phi-4-mini-flash has no MLP biases)');
  if (bool(json, 'lm_head_bias', false)) throw new ConfigError('lm_head_bias', 'must be false');
  if (bool(json, 'mamba_proj_bias', false)) throw new ConfigError('mamba_proj_bias', 'must be false');
  const special = vocabularyFields(json);

  return {
    ...special,
    hiddenSize,
    intermediateSize: int(json, 'intermediate_size'),
    numLayers,
    numHeads,
    numKvHeads,
    headDim: hiddenSize / numHeads,
    slidingWindow: slidingWindow(json),
    mbPerLayer,
    mamba: {
      dState: int(json, 'mamba_d_state', 16),
      dConv: int(json, 'mamba_d_conv', 4),
      expand,
      dInner: expand * hiddenSize,
      dtRank,
      convBias: bool(json, 'mamba_conv_bias', true),
    },
    layerNormEps: positive(json, 'layer_norm_eps', 1e-5),
    tieWordEmbeddings,
    layerTypes: types,
    unknownFields: Object.keys(json).filter((f) => !READ_FIELDS.includes(f) && !IGNORED_FIELDS.includes(f)),
  };
}
