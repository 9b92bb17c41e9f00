import type { ModelConfig } from '../model/config.js';
import type { LayerSpec } from '../model/layer-plan.js';
import type { ModelSpec } from '../model/model-spec.js';
import {
  crossProjection,
  differentialAttention,
  selfProjections,
  type CachedKeys,
  type FreshKeys,
} from './blocks/differential-attention.js';
import { gmu } from './blocks/gmu-block.js';
import { mambaPrefill } from './blocks/mamba-block.js';
import { embed, lmHead, mixerPrefix, residualLayer } from './decoder-layer.js';
import { presentName } from './io-names.js';
import { GraphBuilder, type WeightResolver } from './onnx/onnx-builder.js';
import { additiveMask, dimOf, range, reshape, unsqueeze } from './onnx/ops.js';
import { cacheInputs, cachedCount, mambaInputs, maskPerWindow, writtenRows } from './state-io.js';

/**
 * Prefill: extends each of B slots from its cached state by a chunk of tokens (a whole prompt for a
 * new sequence, whose state is zeros and past length 0).
 * In: right-padded chunks `input_ids` [B, S] with `lengths` [B], `past_lengths` [B], and the state
 * inputs of state-io.ts. Out: last-token `logits` [B, vocab], whole new Mamba states, and for
 * attention layers the chunk's rows `present.{i}.key` / `.value` [B, S, KV, hd], which the engine
 * writes into its caches. The self-decoder runs over every chunk position, each query reading the
 * cached rows it may see plus the chunk's own keys up to itself; the cross-decoder (YOCO) runs over
 * each slot's last chunk token only.
 */

interface ChunkMasks {
  causal: string; // [1, 1, 1, S, S] additive, among the chunk's own keys
  sliding: string; // [1, 1, 1, S, S] additive, also hides keys W or more back
  validKeys: string; // [B, 1, 1, 1, S] additive: chunk keys at positions < lengths[b]
  stepMask: string; // [B, S, 1] f32: 1 at valid positions
}

/**
 * Right padding means a valid query never sees a pad key under the causal mask, so the chunk's
 * own masks do not depend on the batch; padded queries compute garbage that nothing reads.
 */
function chunkMasks(g: GraphBuilder, pos: string, lengths: string, window: number): ChunkMasks {
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

/**
 * Cached rows chunk query s may read, as an additive mask. A full cache: rows t < past, for every
 * query: [B, 1, 1, 1, P]. A ring of R = W - 1 rows: row r holds the position past - 1 - age(r),
 * age(r) = (past - 1 - r) mod R, which query s (position past + s) sees iff age(r) + s < R:
 * [B, 1, 1, S, R].
 */
function cachedMask(g: GraphBuilder, layer: LayerSpec, v: string, past: string, pos: string): string {
  const written = writtenRows(g, v, cachedCount(g, layer, past)); // [B, P]
  if (layer.window === null) return unsqueeze(g, additiveMask(g, written), [1, 2, 3]);
  const rows = layer.window - 1;
  const r = unsqueeze(g, range(g, dimOf(g, v, 2)), [0]); // [1, R]
  const last = unsqueeze(g, g.op1('Sub', [past, g.ints([1], [])]), [1]); // [B, 1]
  const age = g.op1('Mod', [g.op1('Sub', [last, r]), g.ints([rows], [])]); // [B, R]
  const reach = g.op1('Add', [unsqueeze(g, age, [1]), unsqueeze(g, pos, [0, 2])]); // [B, S, R]
  const seen = g.op1('And', [unsqueeze(g, written, [1]), g.op1('Less', [reach, g.ints([rows], [])])]);
  return unsqueeze(g, additiveMask(g, seen), [1, 2]);
}

/** x [B, S, F] -> x at position lengths[b] - 1: [B, 1, F]. */
function atLastToken(g: GraphBuilder, x: string, lengths: string, width: number): string {
  const last = unsqueeze(g, g.op1('Sub', [lengths, g.ints([1], [])]), [1, 2]); // [B, 1, 1]
  const shape = g.op1('Concat', [dimOf(g, x, 0), g.ints([1, width])], { axis: 0 });
  return g.op1('GatherElements', [x, g.op1('Expand', [last, shape])], { axis: 1 });
}

interface ChunkIo {
  past: string; // [B]
  lengths: string; // [B]
  pos: string; // [S]
  masks: ChunkMasks;
  /** The cached rows' mask of a layer (`cachedMask`), built once per window. */
  cachedMask: (layer: LayerSpec, v: string) => string;
}

interface SelfDecoderOut {
  x: string; // [B, S, d]
  memory: string | null; // [B, S, d_inner]
  shared: { cached: CachedKeys; fresh: FreshKeys } | null; // the K/V source layer's keys
}

function selfMixer(g: GraphBuilder, c: ModelConfig, layer: LayerSpec, h: string, io: ChunkIo, out: SelfDecoderOut) {
  const i = layer.index;
  const p = mixerPrefix(i);
  if (layer.kind === 'mamba') {
    const m = mambaPrefill(g, h, p, i, c.mamba, mambaInputs(g, c, i), {
      lengths: io.lengths,
      stepMask: io.masks.stepMask,
    });
    g.output(presentName(i, 'conv_state'), m.conv, 'float32', ['batch', c.mamba.dConv, c.mamba.dInner]);
    g.output(presentName(i, 'ssm_state'), m.ssm, 'float32', ['batch', c.mamba.dState, c.mamba.dInner]);
    if (layer.exportsMemory) out.memory = m.y;
    return m.out;
  }
  const { q, k, v } = selfProjections(g, h, p, c);
  const dims = ['batch', 'seq', c.numKvHeads, c.headDim];
  g.output(presentName(i, 'key'), k, 'float32', dims);
  g.output(presentName(i, 'value'), v, 'float32', dims);
  const cache = cacheInputs(g, c, layer);
  const cached = { ...cache, mask: io.cachedMask(layer, cache.v) };
  const fresh = { k, v, mask: layer.window === null ? io.masks.causal : io.masks.sliding };
  if (layer.sharesKv) out.shared = { cached, fresh: { k, v, mask: io.masks.validKeys } };
  return differentialAttention(g, p, i, c, q, cached, fresh);
}

export function buildPrefillGraph(spec: ModelSpec, weights: WeightResolver): Uint8Array {
  const { config: c, plan } = spec;
  const g = new GraphBuilder('sambay_prefill', weights);
  const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
  const lengths = g.input('lengths', 'int64', ['batch']);
  const past = g.input('past_lengths', 'int64', ['batch']);
  const pos = range(g, dimOf(g, ids, 1)); // [S]
  const io: ChunkIo = {
    past,
    lengths,
    pos,
    masks: chunkMasks(g, pos, lengths, c.slidingWindow),
    cachedMask: maskPerWindow((layer, v) => cachedMask(g, layer, v, past, pos)),
  };

  const out: SelfDecoderOut = { x: embed(g, ids), memory: null, shared: null };
  for (const layer of plan.layers.slice(0, plan.crossStart)) {
    out.x = g.scope(`layers.${layer.index}.${layer.kind}`, () =>
      residualLayer(g, out.x, layer.index, c, (h) => selfMixer(g, c, layer, h, io, out)),
    );
  }

  // --- YOCO: the cross-decoder runs on each slot's last chunk token only ---
  let x = atLastToken(g, out.x, lengths, c.hiddenSize); // [B, 1, d]
  const memory = out.memory && atLastToken(g, out.memory, lengths, c.mamba.dInner); // [B, 1, Di]
  for (const layer of plan.layers.slice(plan.crossStart)) {
    const p = mixerPrefix(layer.index);
    x = g.scope(`layers.${layer.index}.${layer.kind}`, () =>
      residualLayer(g, x, layer.index, c, (h) =>
        layer.kind === 'gmu'
          ? gmu(g, h, p, memory!)
          : differentialAttention(
              g,
              p,
              layer.index,
              c,
              crossProjection(g, h, p),
              out.shared!.cached,
              out.shared!.fresh,
            ),
      ),
    );
  }
  g.output('logits', lmHead(g, x, c), 'float32', ['batch', c.vocabSize]);
  return g.build();
}
