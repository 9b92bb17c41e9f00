import type { LayerKind, ModelConfig } from './config.js';
import { ConfigError } from './model-errors.js';

/** One layer of the plan: what its mixer is and what per-sequence state it keeps. */
export interface LayerSpec {
  index: number;
  kind: LayerKind;
  /** Sliding-window size for `sliding_attention`, null otherwise. */
  window: number | null;
  /** The Mamba layer whose scan output `y` is the memory every GMU reads. */
  exportsMemory: boolean;
  /** The full-attention layer whose K/V cache the cross-attention layers read. */
  sharesKv: boolean;
}

export interface LayerPlan {
  layers: LayerSpec[];
  /** Index of the first cross-decoder layer (numLayers when there is no cross-decoder). */
  crossStart: number;
  memoryLayer: number | null;
  kvSourceLayer: number | null;
}

/**
 * The SambaY rules (docs/model.md#layer-plan): in the self-decoder even layers are Mamba and odd layers
 * sliding-window attention; layer L/2 is the memory Mamba, L/2+1 the one full-attention layer;
 * in the cross-decoder even layers are GMUs and odd layers cross-attention.
 */
export function sambayLayerKinds(numLayers: number): LayerKind[] {
  const half = numLayers / 2;
  return Array.from({ length: numLayers }, (_, i): LayerKind => {
    if (i < half) return i % 2 === 0 ? 'mamba' : 'sliding_attention';
    if (i === half) return 'mamba';
    if (i === half + 1) return 'full_attention';
    return i % 2 === 0 ? 'gmu' : 'cross_attention';
  });
}

function lastIndexOf(kinds: LayerKind[], kind: LayerKind, before: number): number {
  return kinds.slice(0, before).lastIndexOf(kind);
}

/**
 * Builds the plan from `layer_types` when given, else from the SambaY rules. The cross-decoder is
 * the longest suffix of GMU / cross-attention layers; GMUs read the memory of the last self-decoder
 * Mamba, cross-attention the K/V of the last self-decoder full-attention layer.
 */
export function planLayers(config: ModelConfig): LayerPlan {
  const kinds = config.layerTypes ?? sambayLayerKinds(config.numLayers);
  const isCross = (k: LayerKind) => k === 'gmu' || k === 'cross_attention';
  let crossStart = kinds.length;
  while (crossStart > 0 && isCross(kinds[crossStart - 1]!)) crossStart--;
  const stray = kinds.findIndex((k, i) => i < crossStart && isCross(k));
  if (stray >= 0) {
    throw new ConfigError(
      `layer_types[${stray}]`,
      `is ${kinds[stray]}, which may only appear in the trailing cross-decoder`,
    );
  }
  const hasGmu = kinds.includes('gmu');
  const hasCross = kinds.includes('cross_attention');
  const memoryLayer = hasGmu ? lastIndexOf(kinds, 'mamba', crossStart) : -1;
  const kvSourceLayer = hasCross ? lastIndexOf(kinds, 'full_attention', crossStart) : -1;
  if (hasGmu && memoryLayer < 0) throw new ConfigError('layer_types', 'has GMU layers but no Mamba layer before them');
  if (hasCross && kvSourceLayer < 0) {
    throw new ConfigError('layer_types', 'has cross-attention layers but no full-attention layer before them');
  }
  // A decoder-hybrid-decoder keeps one growing K/V cache, the one its cross-decoder reuses; a second
  // full-attention layer would cache a context-long K/V that nothing shares.
  const extraFull = kinds.findIndex((k, i) => k === 'full_attention' && i < crossStart && i !== kvSourceLayer);
  if (hasCross && extraFull >= 0) {
    throw new ConfigError(
      `layer_types[${extraFull}]`,
      `is a second full-attention layer; with a cross-decoder, only layer ${kvSourceLayer} (whose K/V it reuses) may be one`,
    );
  }
  const layers = kinds.map((kind, index): LayerSpec => ({
    index,
    kind,
    window: kind === 'sliding_attention' ? config.slidingWindow : null,
    exportsMemory: index === memoryLayer,
    sharesKv: index === kvSourceLayer,
  }));
  return {
    layers,
    crossStart,
    memoryLayer: memoryLayer >= 0 ? memoryLayer : null,
    kvSourceLayer: kvSourceLayer >= 0 ? kvSourceLayer : null,
  };
}
