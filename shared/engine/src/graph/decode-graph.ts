import type { ModelConfig } from '../model/config.js';
import type { LayerSpec } from '../model/layer-plan.js';
import type { ModelSpec } from '../model/model-spec.js';
import {
  crossProjection,
  differentialAttention,
  selfProjections,
  type KeyValues,
} from './blocks/differential-attention.js';
import { gmu } from './blocks/gmu-block.js';
import { mambaDecode } from './blocks/mamba-block.js';
import { embed, lmHead, mixerPrefix, residualLayer } from './decoder-layer.js';
import { pastName, presentName } from './io-names.js';
import { GraphBuilder } from './onnx/onnx-builder.js';
import { additiveMask, dimOf, range, squeeze, transpose, unsqueeze } from './onnx/ops.js';

/**
 * Decode: one new token for each of B sequences at different positions.
 * In: `input_ids` [batch], `past_lengths` [batch] (tokens already cached), Mamba
 * `past_key_values.{i}.conv_state` [batch, Di, d_conv] / `.ssm_state` [batch, Di, N], attention
 * `past_key_values.{i}.key` / `.value` TIME-MAJOR [past, batch, KV, hd] (the engine's buffers as they
 * are: full layers pass their first max-length rows, sliding layers their W - 1 row ring).
 * Out: `logits` [batch, vocab], whole new Mamba states, and for attention layers only the new rows
 * `present.{i}.key` / `.value` [batch, KV, hd], which the engine writes into its buffers in place.
 */

/**
 * Keys visible to the new token: cached rows t < count[b], plus its own row appended at index P.
 * past [P, B, KV, hd]; count [B] -> additive [B, 1, 1, 1, P + 1].
 */
function cacheMask(g: GraphBuilder, past: string, count: string): string {
  const rows = dimOf(g, past, 0); // [1] = P
  const r = range(g, g.op1('Add', [rows, g.ints([1])])); // [P + 1]
  const cached = g.op1('Less', [unsqueeze(g, r, [0]), unsqueeze(g, count, [1])]); // [B, P + 1]
  const allowed = g.op1('Or', [cached, g.op1('Equal', [r, rows])]);
  return unsqueeze(g, additiveMask(g, allowed), [1, 2, 3]);
}

interface AttentionContext {
  kv: KeyValues; // time-major [P + 1, B, KV, hd]
  mask: string;
}

/** Sliding rings hold W - 1 rows, so at most W - 1 of them are valid; the new token makes W. */
function cachedCount(g: GraphBuilder, layer: LayerSpec, pastLengths: string): string {
  return layer.window === null ? pastLengths : g.op1('Min', [pastLengths, g.ints([layer.window - 1], [])]);
}

function attentionMixer(
  g: GraphBuilder,
  c: ModelConfig,
  layer: LayerSpec,
  h: string,
  pastLengths: string,
): [string, AttentionContext] {
  const i = layer.index;
  const p = mixerPrefix(i);
  const rows = layer.window === null ? 'past' : layer.window - 1;
  const dims = [rows, 'batch', c.numKvHeads, c.headDim];
  const pastK = g.input(pastName(i, 'key'), 'float32', dims);
  const pastV = g.input(pastName(i, 'value'), 'float32', dims);
  const { q, k, v } = selfProjections(g, h, p, c); // k, v [B, 1, KV, hd]
  g.output(presentName(i, 'key'), squeeze(g, k, [1]), 'float32', ['batch', c.numKvHeads, c.headDim]);
  g.output(presentName(i, 'value'), squeeze(g, v, [1]), 'float32', ['batch', c.numKvHeads, c.headDim]);
  const append = (past: string, row: string) => g.op1('Concat', [past, transpose(g, row, [1, 0, 2, 3])], { axis: 0 });
  const ctx: AttentionContext = {
    kv: { k: append(pastK, k), v: append(pastV, v), layout: 'time-major' },
    mask: cacheMask(g, pastK, cachedCount(g, layer, pastLengths)),
  };
  return [differentialAttention(g, p, i, c, q, ctx.kv, ctx.mask), ctx];
}

function mambaMixer(g: GraphBuilder, c: ModelConfig, layer: LayerSpec, h: string) {
  const i = layer.index;
  const m = c.mamba;
  const conv = g.input(pastName(i, 'conv_state'), 'float32', ['batch', m.dInner, m.dConv]);
  const ssm = g.input(pastName(i, 'ssm_state'), 'float32', ['batch', m.dInner, m.dState]);
  const out = mambaDecode(g, h, mixerPrefix(i), m, conv, ssm);
  g.output(presentName(i, 'conv_state'), out.conv, 'float32', ['batch', m.dInner, m.dConv]);
  g.output(presentName(i, 'ssm_state'), out.ssm, 'float32', ['batch', m.dInner, m.dState]);
  return out;
}

export function buildDecodeGraph(spec: ModelSpec): Uint8Array {
  const { config: c, plan } = spec;
  const g = new GraphBuilder('sambay_decode', (name) => spec.weights.get(name));
  const ids = g.input('input_ids', 'int64', ['batch']);
  const pastLengths = g.input('past_lengths', 'int64', ['batch']);

  let x = embed(g, unsqueeze(g, ids, [1])); // [B, 1, d]
  let memory: string | null = null; // [B, 1, Di]
  let shared: AttentionContext | undefined;
  for (const layer of plan.layers) {
    const p = mixerPrefix(layer.index);
    const mixer = (h: string): string => {
      switch (layer.kind) {
        case 'mamba': {
          const m = mambaMixer(g, c, layer, h);
          if (layer.exportsMemory) memory = m.y;
          return m.out;
        }
        case 'sliding_attention':
        case 'full_attention': {
          const [out, ctx] = attentionMixer(g, c, layer, h, pastLengths);
          if (layer.sharesKv) shared = ctx;
          return out;
        }
        case 'gmu':
          return gmu(g, h, p, memory!);
        case 'cross_attention':
          return differentialAttention(g, p, layer.index, c, crossProjection(g, h, p), shared!.kv, shared!.mask);
      }
    };
    x = g.scope(`layers.${layer.index}.${layer.kind}`, () => residualLayer(g, x, layer.index, c, mixer));
  }
  g.output('logits', lmHead(g, x, c), 'float32', ['batch', c.vocabSize]);
  return g.build();
}
