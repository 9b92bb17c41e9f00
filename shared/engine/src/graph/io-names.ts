/**
 * Graph input / output names, following the onnxruntime/mobius export of this model so a reader
 * who knows that export finds their way: `past_key_values.{i}.*` in, `present.{i}.*` out.
 */
export type StateTensor = 'conv_state' | 'ssm_state' | 'key' | 'value';

export const pastName = (layer: number, t: StateTensor) => `past_key_values.${layer}.${t}`;
export const presentName = (layer: number, t: StateTensor) => `present.${layer}.${t}`;
