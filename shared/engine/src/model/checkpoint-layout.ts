import type { ModelConfig } from './config.js';
import type { LayerPlan, LayerSpec } from './layer-plan.js';
import { numel } from './tensor.js';

/** Tensor name -> shape, exactly as a Hugging Face phi4flash checkpoint names them. */
export type CheckpointLayout = Map<string, number[]>;

function mixerTensors(config: ModelConfig, layer: LayerSpec): [string, number[]][] {
  const d = config.hiddenSize;
  const { dInner, dConv, dState, dtRank, convBias } = config.mamba;
  const hd = config.headDim;
  switch (layer.kind) {
    case 'mamba':
      return [
        ['in_proj.weight', [2 * dInner, d]],
        ['conv1d.weight', [dInner, 1, dConv]],
        ...(convBias ? [['conv1d.bias', [dInner]] as [string, number[]]] : []),
        ['x_proj.weight', [dtRank + 2 * dState, dInner]],
        ['dt_proj.weight', [dInner, dtRank]],
        ['dt_proj.bias', [dInner]],
        ['A_log', [dInner, dState]],
        ['D', [dInner]],
        ['out_proj.weight', [d, dInner]],
      ];
    case 'gmu':
      return [
        ['in_proj.weight', [dInner, d]],
        ['out_proj.weight', [d, dInner]],
      ];
    case 'sliding_attention':
    case 'full_attention':
    case 'cross_attention': {
      const qkv = layer.kind === 'cross_attention' ? d : d + 2 * config.numKvHeads * hd;
      return [
        ['Wqkv.weight', [qkv, d]],
        ['Wqkv.bias', [qkv]],
        ['out_proj.weight', [d, d]],
        ['out_proj.bias', [d]],
        ['inner_cross_attn.lambda_q1', [hd]],
        ['inner_cross_attn.lambda_k1', [hd]],
        ['inner_cross_attn.lambda_q2', [hd]],
        ['inner_cross_attn.lambda_k2', [hd]],
        ['inner_cross_attn.subln.weight', [2 * hd]],
      ];
    }
  }
}

/** Every tensor the plan needs. */
export function checkpointLayout(config: ModelConfig, plan: LayerPlan): CheckpointLayout {
  const d = config.hiddenSize;
  const layout: CheckpointLayout = new Map([
    ['model.embed_tokens.weight', [config.vocabSize, d]],
    ['model.final_layernorm.weight', [d]],
    ['model.final_layernorm.bias', [d]],
  ]);
  if (!config.tieWordEmbeddings) layout.set('lm_head.weight', [config.vocabSize, d]);
  for (const layer of plan.layers) {
    const p = `model.layers.${layer.index}.`;
    layout.set(`${p}input_layernorm.weight`, [d]);
    layout.set(`${p}input_layernorm.bias`, [d]);
    layout.set(`${p}post_attention_layernorm.weight`, [d]);
    layout.set(`${p}post_attention_layernorm.bias`, [d]);
    layout.set(`${p}mlp.fc1.weight`, [2 * config.intermediateSize, d]);
    layout.set(`${p}mlp.fc2.weight`, [d, config.intermediateSize]);
    for (const [name, shape] of mixerTensors(config, layer)) layout.set(`${p}attn.${name}`, shape);
  }
  return layout;
}

/** Parameters the plan holds (every tensor of `checkpointLayout`), from the config alone. */
export function parameterCount(config: ModelConfig, plan: LayerPlan): number {
  let count = 0;
  for (const shape of checkpointLayout(config, plan).values()) count += numel(shape);
  return count;
}

/** Checkpoint tensors that may be present but are not used for generation. */
export function isIgnoredTensor(name: string, config: ModelConfig): boolean {
  return name.startsWith('critic_head.') || (config.tieWordEmbeddings && name === 'lm_head.weight');
}
