import type { Tensor } from '../model/tensor.js';
import { linear, silu, softplus } from './ops.js';

/**
 * Mamba-1, one token at a time (docs/model.md#mamba-step):
 *   x, z = split(in_proj(h))                      x first
 *   conv = shift_left(conv); conv[:, -1] = x      the last d_conv raw inputs
 *   xc = silu(sum(conv * conv1d.weight[:, 0, :], -1) + conv1d.bias)
 *   dtl, B, C = split(x_proj(xc), [dt_rank, N, N])
 *   dt = softplus(dt_proj(dtl)); A = -exp(A_log)
 *   ssm = exp(dt A) * ssm + (dt xc) B
 *   y = ssm @ C + D xc;  out = out_proj(y * silu(z))
 */

export interface MambaWeights {
  inProj: Tensor; // [2 * dInner, d]
  conv1dWeight: Tensor; // [dInner, 1, dConv]
  conv1dBias: Tensor | null; // [dInner]
  xProj: Tensor; // [dtRank + 2N, dInner]
  dtProjWeight: Tensor; // [dInner, dtRank]
  dtProjBias: Tensor; // [dInner]
  aLog: Tensor; // [dInner, N]
  d: Tensor; // [dInner]
  outProj: Tensor; // [d, dInner]
}

export interface MambaState {
  conv: Float32Array; // [dInner, dConv]
  ssm: Float32Array; // [dInner, N]
}

/** The state before position 0: all zeros. */
export function emptyMambaState(w: MambaWeights): MambaState {
  return { conv: new Float32Array(w.conv1dWeight.data.length), ssm: new Float32Array(w.aLog.data.length) };
}

/** One step: updates `state` in place; returns the block output [d] and the pre-gate scan output y [dInner]. */
export function mambaStep(w: MambaWeights, h: Float32Array, state: MambaState): { out: Float32Array; y: Float32Array } {
  const dInner = w.d.data.length;
  const dConv = w.conv1dWeight.data.length / dInner;
  const n = w.aLog.data.length / dInner;
  const dtRank = w.dtProjWeight.data.length / dInner;

  const xz = linear(w.inProj, h); // [2 * dInner]: x | z
  const xc = new Float32Array(dInner);
  for (let c = 0; c < dInner; c++) {
    const row = c * dConv;
    state.conv.copyWithin(row, row + 1, row + dConv); // shift left
    state.conv[row + dConv - 1] = xz[c]!;
    let sum = w.conv1dBias ? w.conv1dBias.data[c]! : 0;
    for (let k = 0; k < dConv; k++) sum += state.conv[row + k]! * w.conv1dWeight.data[row + k]!;
    xc[c] = silu(sum);
  }

  const dbc = linear(w.xProj, xc); // [dtRank + 2N]
  const dtl = dbc.subarray(0, dtRank);
  const b = dbc.subarray(dtRank, dtRank + n);
  const cVec = dbc.subarray(dtRank + n, dtRank + 2 * n);
  const dt = linear(w.dtProjWeight, dtl, w.dtProjBias).map(softplus); // [dInner]

  const y = new Float32Array(dInner);
  for (let c = 0; c < dInner; c++) {
    let acc = w.d.data[c]! * xc[c]!;
    for (let s = 0; s < n; s++) {
      const i = c * n + s;
      const a = -Math.exp(w.aLog.data[i]!);
      state.ssm[i] = Math.exp(dt[c]! * a) * state.ssm[i]! + dt[c]! * xc[c]! * b[s]!;
      acc += state.ssm[i] * cVec[s]!;
    }
    y[c] = acc;
  }

  const gated = y.map((v, c) => v * silu(xz[dInner + c]!));
  return { out: linear(w.outProj, gated), y };
}

/** The block over a whole sequence from the empty state: outputs [T][d] and scan outputs [T][dInner]. */
export function mambaSequence(w: MambaWeights, hs: Float32Array[]): { out: Float32Array[]; y: Float32Array[] } {
  const state = emptyMambaState(w);
  const steps = hs.map((h) => mambaStep(w, h, state));
  return { out: steps.map((s) => s.out), y: steps.map((s) => s.y) };
}
