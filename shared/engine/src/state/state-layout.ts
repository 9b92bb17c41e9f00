import { createHash } from 'node:crypto';
import type { StateTensor } from '../graph/io-names.js';
import type { ModelSpec } from '../model/model-spec.js';
import { numel } from '../model/tensor.js';

/** What one layer keeps per sequence. */
export type LayerState =
  | { kind: 'mamba'; layer: number; conv: number[]; ssm: number[] } // [d_conv, Di], [N, Di] (mamba-block.ts)
  | { kind: 'ring'; layer: number; rows: number; row: number[] } // W - 1 rows of [KV, hd]
  | { kind: 'full'; layer: number; row: number[] }; // one [KV, hd] row per token

export function stateLayout(spec: ModelSpec): LayerState[] {
  const { config: c, plan } = spec;
  const row = [c.numKvHeads, c.headDim];
  return plan.layers.flatMap((l): LayerState[] => {
    if (l.kind === 'mamba')
      return [
        { kind: 'mamba', layer: l.index, conv: [c.mamba.dConv, c.mamba.dInner], ssm: [c.mamba.dState, c.mamba.dInner] },
      ];
    if (l.kind === 'sliding_attention') return [{ kind: 'ring', layer: l.index, rows: l.window! - 1, row }];
    if (l.kind === 'full_attention') return [{ kind: 'full', layer: l.index, row }];
    return []; // GMU and cross-attention keep nothing (YOCO)
  });
}

/** One f32 block of a sequence's state, in export order. */
export interface StateBlock {
  layer: number;
  tensor: StateTensor;
  shape: number[];
}

/** The blocks of a sequence of `length` tokens: constant-size, except full K/V with `length` rows. */
export function stateBlocks(layout: readonly LayerState[], length: number): StateBlock[] {
  return layout.flatMap((s): StateBlock[] => {
    switch (s.kind) {
      case 'mamba':
        return [
          { layer: s.layer, tensor: 'conv_state', shape: s.conv },
          { layer: s.layer, tensor: 'ssm_state', shape: s.ssm },
        ];
      case 'ring':
        return (['key', 'value'] as const).map((tensor) => ({ layer: s.layer, tensor, shape: [s.rows, ...s.row] }));
      case 'full':
        return (['key', 'value'] as const).map((tensor) => ({ layer: s.layer, tensor, shape: [length, ...s.row] }));
    }
  });
}

/** Bytes of a sequence's state at `length` tokens (f32). */
export const stateByteSize = (layout: readonly LayerState[], length: number) =>
  stateBlocks(layout, length).reduce((sum, b) => sum + 4 * numel(b.shape), 0);

/**
 * Identifies the model shape a state belongs to: every config field that changes the math or the
 * state layout (token ids do not), plus the layer kinds. Weights are not hashed (too costly for
 * large checkpoints), so states from two checkpoints of one config are not told apart.
 */
export function configFingerprint(spec: ModelSpec): string {
  const { bosTokenId: _bos, eosTokenIds: _eos, ...shape } = spec.config;
  const kinds = spec.plan.layers.map((l) => l.kind);
  return createHash('sha256').update(JSON.stringify({ shape, kinds })).digest('hex').slice(0, 16);
}
