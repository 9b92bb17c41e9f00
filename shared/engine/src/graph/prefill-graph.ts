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
import { mambaPrefill } from './blocks/mamba-block.js';
import { embed, lmHead, mixerPrefix, residualLayer } from './decoder-layer.js';
import { presentName } from './io-names.js';
import { GraphBuilder } from './onnx/onnx-builder.js';
import { additiveMask, dimOf, range, reshape, unsqueeze } from './onnx/ops.js';

/**
 * Prefill: right-padded prompts `input_ids` [batch, seq] with `lengths` [batch] -> last-token
 * `logits` [batch, vocab] and every state tensor. The self-decoder runs over all positions; the
 * cross-decoder (YOCO) over each sequence's last valid token only.
 */

interface PrefillMasks {
  causal: string; // [1, 1, 1, S, S] additive
  sliding: string; // [1, 1, 1, S, S] additive, also hides keys more than W - 1 back
  validKeys: string; // [B, 1, 1, 1, S] additive: keys at positions < lengths[b]
  stepMask: string; // [B, S, 1] f32: 1 at valid positions
}

/**
 * Right padding means a valid query never sees a pad key under the causal mask, so the self masks do
 * not depend on the batch; padded queries compute garbage that nothing reads.
 */
function prefillMasks(g: GraphBuilder, ids: string, lengths: string, window: number): PrefillMasks {
  const pos = range(g, dimOf(g, ids, 1)); // [S]
  const back = g.op1('Sub', [unsqueeze(g, pos, [1]), unsqueeze(g, pos, [0])]); // [S, S]: query - key
  const causal = g.op1('GreaterOrEqual', [back, g.ints([0], [])]);
  const inWindow = g.op1('And', [causal, g.op1('Less', [back, g.ints([window], [])])]);
  const selfMask = (allowed: string) => unsqueeze(g, additiveMask(g, allowed), [0, 1, 2]);
  const valid = g.op1('Less', [unsqueeze(g, pos, [0]), unsqueeze(g, lengths, [1])]); // [B, S]
  return {
    causal: selfMask(causal),
    sliding: selfMask(inWindow),
    validKeys: reshape(g, additiveMask(g, valid), [0, 1, 1, 1, -1]),
    stepMask: unsqueeze(g, g.op1('Cast', [valid], { to: 1 /* FLOAT */ }), [2]),
  };
}

/** x [B, S, F] -> x at position lengths[b] - 1: [B, 1, F]. */
function atLastToken(g: GraphBuilder, x: string, lengths: string, width: number): string {
  const last = unsqueeze(g, g.op1('Sub', [lengths, g.ints([1], [])]), [1, 2]); // [B, 1, 1]
  const shape = g.op1('Concat', [dimOf(g, x, 0), g.ints([1, width])], { axis: 0 });
  return g.op1('GatherElements', [x, g.op1('Expand', [last, shape])], { axis: 1 });
}

interface SelfDecoderOut {
  x: string; // [B, S, d]
  memory: string | null; // [B, S, d_inner]
  kv: Map<number, KeyValues>; // batch-major [B, S, KV, hd] per attention layer
}

function selfMixer(
  g: GraphBuilder,
  c: ModelConfig,
  layer: LayerSpec,
  h: string,
  io: { lengths: string; masks: PrefillMasks; out: SelfDecoderOut },
) {
  const p = mixerPrefix(layer.index);
  if (layer.kind === 'mamba') {
    const m = mambaPrefill(g, h, p, layer.index, c.mamba, io.lengths, io.masks.stepMask);
    g.output(presentName(layer.index, 'conv_state'), m.conv, 'float32', ['batch', c.mamba.dInner, c.mamba.dConv]);
    g.output(presentName(layer.index, 'ssm_state'), m.ssm, 'float32', ['batch', c.mamba.dInner, c.mamba.dState]);
    if (layer.exportsMemory) io.out.memory = m.y;
    return m.out;
  }
  const { q, k, v } = selfProjections(g, h, p, c);
  const dims = ['batch', 'seq', c.numKvHeads, c.headDim];
  g.output(presentName(layer.index, 'key'), k, 'float32', dims);
  g.output(presentName(layer.index, 'value'), v, 'float32', dims);
  const kv: KeyValues = { k, v, layout: 'batch-major' };
  io.out.kv.set(layer.index, kv);
  const mask = layer.kind === 'sliding_attention' ? io.masks.sliding : io.masks.causal;
  return differentialAttention(g, p, layer.index, c, q, kv, mask);
}

export function buildPrefillGraph(spec: ModelSpec): Uint8Array {
  const { config: c, plan } = spec;
  const g = new GraphBuilder('sambay_prefill', (name) => spec.weights.get(name));
  const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
  const lengths = g.input('lengths', 'int64', ['batch']);
  const masks = prefillMasks(g, ids, lengths, c.slidingWindow);

  const out: SelfDecoderOut = { x: embed(g, ids), memory: null, kv: new Map() };
  for (const layer of plan.layers.slice(0, plan.crossStart)) {
    out.x = g.scope(`layers.${layer.index}.${layer.kind}`, () =>
      residualLayer(g, out.x, layer.index, c, (h) => selfMixer(g, c, layer, h, { lengths, masks, out })),
    );
  }

  // --- YOCO: the cross-decoder runs on each sequence's last token only ---
  let x = atLastToken(g, out.x, lengths, c.hiddenSize); // [B, 1, d]
  const memory = out.memory && atLastToken(g, out.memory, lengths, c.mamba.dInner); // [B, 1, Di]
  const shared = plan.kvSourceLayer === null ? undefined : out.kv.get(plan.kvSourceLayer);
  for (const layer of plan.layers.slice(plan.crossStart)) {
    const p = mixerPrefix(layer.index);
    x = g.scope(`layers.${layer.index}.${layer.kind}`, () =>
      residualLayer(g, x, layer.index, c, (h) =>
        layer.kind === 'gmu'
          ? gmu(g, h, p, memory!)
          : differentialAttention(g, p, layer.index, c, crossProjection(g, h, p), shared!, masks.validKeys),
      ),
    );
  }
  g.output('logits', lmHead(g, x, c), 'float32', ['batch', c.vocabSize]);
  return g.build();
}
