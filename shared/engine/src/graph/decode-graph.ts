import type { ModelSpec } from '../model/model-spec.js';
import {
  crossProjection,
  differentialAttention,
  selfProjections,
  type CachedKeys,
  type FreshKeys,
} from './blocks/differential-attention.js';
import { gmu } from './blocks/gmu-block.js';
import { mambaDecode } from './blocks/mamba-block.js';
import { embed, lmHead, mixerPrefix, residualLayer } from './decoder-layer.js';
import { presentName } from './io-names.js';
import { GraphBuilder, type WeightResolver } from './onnx/onnx-builder.js';
import { additiveMask, squeeze, unsqueeze } from './onnx/ops.js';
import { cacheInputs, cachedCount, mambaInputs, maskPerWindow, writtenRows } from './state-io.js';

/**
 * Decode: one new token for each of B slots at different positions.
 * In: `input_ids` [B], `past_lengths` [B] (tokens already cached; 0 for a free slot), the state
 * inputs of state-io.ts (caches as the engine holds them, never copied).
 * Out: `logits` [B, vocab], whole new Mamba states, and for attention layers only the new rows
 * `present.{i}.key` / `.value` [B, KV, hd], which the engine writes into its buffers in place.
 * Each attention layer reads its cached rows once (masked past each slot's own count) and merges
 * its own new row's score in (differential-attention.ts); the cross layers do the same over the
 * shared layer's cache and new row.
 */
export function buildDecodeGraph(spec: ModelSpec, weights: WeightResolver): Uint8Array {
  const { config: c, plan } = spec;
  const g = new GraphBuilder('sambay_decode', weights);
  const ids = g.input('input_ids', 'int64', ['batch']);
  const pastLengths = g.input('past_lengths', 'int64', ['batch']);

  let x = embed(g, unsqueeze(g, ids, [1])); // [B, 1, d]
  let memory: string | null = null; // [B, 1, Di]
  let shared: { cached: CachedKeys; fresh: FreshKeys } | undefined;
  const cachedMask = maskPerWindow((layer, v) => {
    const written = writtenRows(g, v, cachedCount(g, layer, pastLengths)); // [B, P]
    return unsqueeze(g, additiveMask(g, written), [1, 2, 3]); // [B, 1, 1, 1, P]
  });
  for (const layer of plan.layers) {
    const i = layer.index;
    const p = mixerPrefix(i);
    const mixer = (h: string): string => {
      switch (layer.kind) {
        case 'mamba': {
          const state = mambaInputs(g, c, i);
          const m = mambaDecode(g, h, p, c.mamba, state.conv, state.ssm);
          g.output(presentName(i, 'conv_state'), m.conv, 'float32', ['batch', c.mamba.dConv, c.mamba.dInner]);
          g.output(presentName(i, 'ssm_state'), m.ssm, 'float32', ['batch', c.mamba.dState, c.mamba.dInner]);
          if (layer.exportsMemory) memory = m.y;
          return m.out;
        }
        case 'sliding_attention':
        case 'full_attention': {
          const { q, k, v } = selfProjections(g, h, p, c); // k, v [B, 1, KV, hd]
          const rowDims = ['batch', c.numKvHeads, c.headDim];
          g.output(presentName(i, 'key'), squeeze(g, k, [1]), 'float32', rowDims);
          g.output(presentName(i, 'value'), squeeze(g, v, [1]), 'float32', rowDims);
          const cache = cacheInputs(g, c, layer);
          const keys = {
            cached: { ...cache, mask: cachedMask(layer, cache.v) },
            fresh: { k, v, mask: null }, // its own row is always visible
          };
          if (layer.sharesKv) shared = keys;
          return differentialAttention(g, p, i, c, q, keys.cached, keys.fresh, true);
        }
        case 'gmu':
          return gmu(g, h, p, memory!);
        case 'cross_attention': {
          const q = crossProjection(g, h, p);
          return differentialAttention(g, p, i, c, q, shared!.cached, shared!.fresh, true);
        }
      }
    };
    x = g.scope(`layers.${i}.${layer.kind}`, () => residualLayer(g, x, i, c, mixer));
  }
  g.output('logits', lmHead(g, x, c), 'float32', ['batch', c.vocabSize]);
  return g.build();
}
