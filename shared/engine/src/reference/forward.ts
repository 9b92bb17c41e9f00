import { EngineError } from '../errors/engine-error.js';
import type { LayerSpec } from '../model/layer-plan.js';
import type { ModelSpec } from '../model/model-spec.js';
import { differentialAttention, type DiffAttentionParams } from './differential-attention.js';
import { gmu } from './gmu.js';
import { mambaSequence } from './mamba.js';
import { mlp } from './mlp.js';
import { add, layerNorm, linear, weight } from './ops.js';

/**
 * The test oracle: logits at every position by recomputing the whole sequence through every layer,
 * with no cache and no YOCO skip (cross-decoder layers also run over all positions; cross-attention
 * at position p reads the K/V source layer's keys/values of positions 0..p). NoPE: no positions.
 */

type Sequence = Float32Array[]; // [T][features]

/** What later layers read from earlier ones. */
interface Shared {
  memory: Sequence | null; // y of plan.memoryLayer, [T][dInner]
  keys: Sequence | null; // K of plan.kvSourceLayer, [T][KV * hd]
  values: Sequence | null; // V of plan.kvSourceLayer, [T][KV * hd]
}

function mambaMixer(spec: ModelSpec, layer: LayerSpec, xs: Sequence, shared: Shared): Sequence {
  const w = (name: string) => weight(spec.weights, `model.layers.${layer.index}.attn.${name}`);
  const { out, y } = mambaSequence(
    {
      inProj: w('in_proj.weight'),
      conv1dWeight: w('conv1d.weight'),
      conv1dBias: spec.config.mamba.convBias ? w('conv1d.bias') : null,
      xProj: w('x_proj.weight'),
      dtProjWeight: w('dt_proj.weight'),
      dtProjBias: w('dt_proj.bias'),
      aLog: w('A_log'),
      d: w('D'),
      outProj: w('out_proj.weight'),
    },
    xs,
  );
  if (layer.index === spec.plan.memoryLayer) shared.memory = y;
  return out;
}

function gmuMixer(spec: ModelSpec, layer: LayerSpec, xs: Sequence, shared: Shared): Sequence {
  const w = (name: string) => weight(spec.weights, `model.layers.${layer.index}.attn.${name}`);
  const memory = shared.memory;
  if (!memory) throw new RangeError(`reference forward: GMU layer ${layer.index} runs before the memory layer`);
  const weights = { inProj: w('in_proj.weight'), outProj: w('out_proj.weight') };
  return xs.map((x, t) => gmu(weights, x, memory[t]!));
}

/** Self-attention (sliding or full) and cross-attention: Wqkv, differential attention, out_proj. */
function attentionMixer(spec: ModelSpec, layer: LayerSpec, xs: Sequence, shared: Shared): Sequence {
  const w = (name: string) => weight(spec.weights, `model.layers.${layer.index}.attn.${name}`);
  const { numHeads, numKvHeads, headDim: hd, hiddenSize: d } = spec.config;
  const kvWidth = numKvHeads * hd;
  const params: DiffAttentionParams = {
    numHeads,
    numKvHeads,
    headDim: hd,
    layerIndex: layer.index,
    lambdaQ1: w('inner_cross_attn.lambda_q1').data,
    lambdaK1: w('inner_cross_attn.lambda_k1').data,
    lambdaQ2: w('inner_cross_attn.lambda_q2').data,
    lambdaK2: w('inner_cross_attn.lambda_k2').data,
    subln: w('inner_cross_attn.subln.weight').data,
  };
  const qkv = xs.map((x) => linear(w('Wqkv.weight'), x, w('Wqkv.bias'))); // [T][d (+ 2 KV hd)]
  const qs = qkv.map((v) => v.subarray(0, d)); // [T][H * hd]
  let keys: Sequence;
  let values: Sequence;
  if (layer.kind === 'cross_attention') {
    if (!shared.keys || !shared.values) {
      throw new RangeError(`reference forward: cross-attention layer ${layer.index} runs before the K/V source layer`);
    }
    [keys, values] = [shared.keys, shared.values];
  } else {
    keys = qkv.map((v) => v.subarray(d, d + kvWidth));
    values = qkv.map((v) => v.subarray(d + kvWidth, d + 2 * kvWidth));
    if (layer.index === spec.plan.kvSourceLayer) [shared.keys, shared.values] = [keys, values];
  }
  // Query p sees keys first..p: the last W for a sliding layer, all earlier ones otherwise.
  const window = layer.kind === 'sliding_attention' ? spec.config.slidingWindow : Infinity;
  return qs.map((q, p) => {
    const first = Math.max(0, p - window + 1);
    const attended = differentialAttention(params, q, keys.slice(first, p + 1), values.slice(first, p + 1));
    return linear(w('out_proj.weight'), attended, w('out_proj.bias'));
  });
}

function mixer(spec: ModelSpec, layer: LayerSpec, xs: Sequence, shared: Shared): Sequence {
  switch (layer.kind) {
    case 'mamba':
      return mambaMixer(spec, layer, xs, shared);
    case 'gmu':
      return gmuMixer(spec, layer, xs, shared);
    case 'sliding_attention':
    case 'full_attention':
    case 'cross_attention':
      return attentionMixer(spec, layer, xs, shared);
  }
}

/** Pre-norm block: x += mixer(LN1(x)); x += MLP(LN2(x)). */
function decoderLayer(spec: ModelSpec, layer: LayerSpec, hs: Sequence, shared: Shared): Sequence {
  const w = (name: string) => weight(spec.weights, `model.layers.${layer.index}.${name}`);
  const eps = spec.config.layerNormEps;
  const ln1 = hs.map((h) => layerNorm(h, w('input_layernorm.weight'), w('input_layernorm.bias'), eps));
  const mixed = mixer(spec, layer, ln1, shared);
  const afterMixer = hs.map((h, t) => add(h, mixed[t]!));
  const mlpWeights = { fc1: w('mlp.fc1.weight'), fc2: w('mlp.fc2.weight') };
  return afterMixer.map((h) => {
    const normed = layerNorm(h, w('post_attention_layernorm.weight'), w('post_attention_layernorm.bias'), eps);
    return add(h, mlp(mlpWeights, normed));
  });
}

/** Logits [T][vocab] for every position of `ids`. */
export function referenceLogits(spec: ModelSpec, ids: number[]): Float32Array[] {
  const { hiddenSize: d, vocabSize, layerNormEps: eps, tieWordEmbeddings } = spec.config;
  const embed = weight(spec.weights, 'model.embed_tokens.weight'); // [vocab, d]
  let hs: Sequence = ids.map((id) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
      throw new EngineError(
        'invalid_token',
        `reference forward: token id ${id} is outside the vocabulary of ${vocabSize}`,
      );
    return embed.data.slice(id * d, (id + 1) * d);
  });
  const shared: Shared = { memory: null, keys: null, values: null };
  for (const layer of spec.plan.layers) hs = decoderLayer(spec, layer, hs, shared);
  const head = tieWordEmbeddings ? embed : weight(spec.weights, 'lm_head.weight'); // [vocab, d]
  const [normW, normB] = [
    weight(spec.weights, 'model.final_layernorm.weight'),
    weight(spec.weights, 'model.final_layernorm.bias'),
  ];
  return hs.map((h) => linear(head, layerNorm(h, normW, normB, eps)));
}
