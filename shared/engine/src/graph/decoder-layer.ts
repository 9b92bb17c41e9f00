import type { ModelConfig } from '../model/config.js';
import { layerNorm } from './blocks/layer-norm.js';
import { mlp } from './blocks/mlp.js';
import type { GraphBuilder } from './onnx/onnx-builder.js';
import { gatherRows, linear, squeeze } from './onnx/ops.js';

/** Checkpoint prefix of a layer's mixer weights. */
export const mixerPrefix = (layer: number) => `model.layers.${layer}.attn.`;

/** Token embeddings. ids [...] int64 -> [..., d]. */
export const embed = (g: GraphBuilder, ids: string) => gatherRows(g, 'model.embed_tokens.weight', ids);

/** Pre-norm residual layer: x += mixer(LN1(x)); x += MLP(LN2(x)). x [B, S, d]. */
export function residualLayer(
  g: GraphBuilder,
  x: string,
  layer: number,
  c: ModelConfig,
  mixer: (h: string) => string,
): string {
  const p = `model.layers.${layer}.`;
  const mixed = g.op1('Add', [x, mixer(layerNorm(g, x, `${p}input_layernorm`, c.layerNormEps))]);
  const h = layerNorm(g, mixed, `${p}post_attention_layernorm`, c.layerNormEps);
  return g.op1('Add', [mixed, mlp(g, h, `${p}mlp`, c.intermediateSize)]);
}

/** Final LayerNorm and LM head (tied to the embedding unless the config says otherwise). x [B, 1, d] -> [B, V]. */
export function lmHead(g: GraphBuilder, x: string, c: ModelConfig): string {
  const h = layerNorm(g, x, 'model.final_layernorm', c.layerNormEps);
  const weight = c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  return squeeze(g, linear(g, h, weight), [1]);
}
