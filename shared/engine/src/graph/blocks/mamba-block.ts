import type { MambaConfig } from '../../model/config.js';
import type { GraphBuilder } from '../onnx/onnx-builder.js';
import {
  dimOf,
  linear,
  range,
  reshape,
  silu,
  slice,
  softplus,
  split,
  squeeze,
  transpose,
  unsqueeze,
} from '../onnx/ops.js';

/**
 * Mamba-1 mixer (docs/model.md#mamba-step), one step:
 *   x, z = split(in_proj(h))                        x first
 *   conv = shift_left(conv); conv[:, -1] = x        the last d_conv raw inputs
 *   xc = silu(sum(conv * conv1d.weight) + conv1d.bias)
 *   dtl, B, C = split(x_proj(xc), [dt_rank, N, N])
 *   dt = softplus(dt_proj(dtl))
 *   ssm = exp(dt * A) * ssm + (dt * xc) B^T,  A = -exp(A_log)
 *   y = ssm C + D * xc                               (the memory layer exports y)
 *   out = out_proj(y * silu(z))
 * The prefill form runs the conv over a whole chunk at once and the SSM recurrence in a Scan;
 * the decode form does one step from the cached state. Both share every other helper.
 */

/**
 * The state as the engine stores it (state/state-layout.ts), laid out for the step rather than as
 * the checkpoint's conv weight: conv TIME-major [B, d_conv, Di] (shifting it moves whole Di rows),
 * ssm N-major [B, N, Di] (every broadcast of the step runs over contiguous Di-long spans). Stored
 * [B, Di, d_conv] / [B, Di, N], each step paid two transposes and a strided shift per layer, which
 * grew to a tenth of a tiny model's batch-16 step.
 */
export interface MambaOut {
  out: string; // [B, S, d]
  y: string; // [B, S, d_inner], before the gate
  conv: string; // [B, d_conv, d_inner]
  ssm: string; // [B, N, d_inner]
}

// --- shared helpers ----------------------------------------------------------------------------

/** x, z = split(in_proj(h)). h [B, S, d] -> x, z [B, S, d_inner]. */
function inputProjection(g: GraphBuilder, h: string, p: string, m: MambaConfig): [string, string] {
  const [x, z] = split(g, linear(g, h, `${p}in_proj.weight`), [m.dInner, m.dInner], -1);
  return [x!, z!];
}

/** dt, B, C from the conv output. xc [..., d_inner] -> dt [..., d_inner], B, C [..., N]. */
function selectiveParams(g: GraphBuilder, xc: string, p: string, m: MambaConfig) {
  const [dtl, b, c] = split(g, linear(g, xc, `${p}x_proj.weight`), [m.dtRank, m.dState, m.dState], -1);
  const dt = softplus(g, linear(g, dtl!, `${p}dt_proj.weight`, `${p}dt_proj.bias`));
  return { dt, b: b!, c: c! };
}

/**
 * A^T = -exp(A_log)^T [N, d_inner], computed once in the main graph (Scan bodies read it from
 * outside; ORT folds it to a constant).
 */
const decayRatesT = (g: GraphBuilder, p: string) =>
  transpose(g, g.op1('Neg', [g.op1('Exp', [g.param(`${p}A_log`)])]), [1, 0]);

/**
 * The SSM step's inputs broadcast to the N-major state, for one step ([B, Di] -> [B, 1, Di]) or a
 * chunk ([B, S, Di] -> [B, S, 1, Di]): dt and dt * xc over N, b [.., N] -> [.., N, 1] over Di,
 * c [.., N] -> [.., 1, N] as the readout's row. Prefill prepares them for the whole chunk at once,
 * so its Scan body is only the recurrence (`ssmStep`): per token and layer that is 6 ORT kernels
 * instead of 14 (a tiny model's 256-token prefill: 17.0 against 14.7 ms).
 */
function stepInputs(g: GraphBuilder, dt: string, xc: string, b: string, c: string) {
  return {
    dt: unsqueeze(g, dt, [-2]),
    dtx: unsqueeze(g, g.op1('Mul', [dt, xc]), [-2]),
    b: unsqueeze(g, b, [-1]),
    c: unsqueeze(g, c, [-2]),
  };
}

/**
 * One SSM step on the N-major state: ssm [B, N, Di]; dt, dtx [B, 1, Di], b [B, N, 1], c [B, 1, N]
 * from `stepInputs`; aT [N, Di] -> ssm' [B, N, Di], readout c ssm' [B, 1, Di]. (Over a
 * [B, d_inner, N] layout ORT broadcasts N-long, 8-16 value, spans, which made these few
 * elementwise ops cost as much as all of a tiny model's matmuls from batch 16 on.)
 */
function ssmStep(
  g: GraphBuilder,
  ssm: string,
  step: { dt: string; dtx: string; b: string; c: string },
  aT: string,
): { ssm: string; readout: string } {
  const decay = g.op1('Exp', [g.op1('Mul', [step.dt, aT])]); // [B, N, Di]
  const next = g.op1('Add', [g.op1('Mul', [decay, ssm]), g.op1('Mul', [step.dtx, step.b])]);
  return { ssm: next, readout: g.op1('MatMul', [step.c, next]) };
}

/** y = readout + D * xc. readout [..., 1, Di] (a step's row), xc [..., Di] -> [..., Di]. */
const skipAdded = (g: GraphBuilder, p: string, readout: string, xc: string) =>
  g.op1('Add', [squeeze(g, readout, [-2]), g.op1('Mul', [g.param(`${p}D`), xc])]);

/** out_proj(y * silu(z)). y, z [..., d_inner] -> [..., d]. */
const gatedOutput = (g: GraphBuilder, y: string, z: string, p: string) =>
  linear(g, g.op1('Mul', [y, silu(g, z)]), `${p}out_proj.weight`);

const convBias = (g: GraphBuilder, p: string, m: MambaConfig) => (m.convBias ? [g.param(`${p}conv1d.bias`)] : []);

// --- prefill: a chunk of tokens ---------------------------------------------------------------

/**
 * Final conv state = the last d_conv raw inputs ending at chunk position lengths[b] - 1.
 * xPadded [B, d_conv - 1 + S, Di]: padded index j holds chunk position j - (d_conv - 1), so the
 * window ending at position L - 1 is padded indices L - 1 .. L + d_conv - 2.
 */
function finalConvState(g: GraphBuilder, xPadded: string, lengths: string, m: MambaConfig): string {
  const start = unsqueeze(g, g.op1('Sub', [lengths, g.ints([1], [])]), [1, 2]); // [B, 1, 1]
  const offsets = reshape(g, range(g, g.ints([m.dConv])), [1, m.dConv, 1]);
  const shape = g.op1('Concat', [dimOf(g, xPadded, 0), g.ints([m.dConv, m.dInner])], { axis: 0 });
  const index = g.op1('Expand', [g.op1('Add', [start, offsets]), shape]); // [B, d_conv, Di]
  return g.op1('GatherElements', [xPadded, index], { axis: 1 });
}

/**
 * The SSM recurrence over time as a Scan whose body is `ssmStep`, from ssm0 [B, N, Di]; inputs
 * [B, S, ...] as `stepInputs` makes them. -> final ssm [B, N, Di], readouts [B, S, 1, Di].
 */
function ssmScan(
  g: GraphBuilder,
  p: string,
  layer: number,
  ssm0: string,
  seq: { dt: string; dtx: string; b: string; c: string },
) {
  const aT = decayRatesT(g, p);
  const body = g.subgraph(`layers.${layer}.mamba.scan_body`);
  const name = (s: string) => `layers.${layer}.mamba.scan/${s}`;
  const [ssm, dt, dtx, b, c] = ['ssm_in', 'dt', 'dtx', 'b', 'c'].map((s) => body.input(name(s), 'float32'));
  const step = body.scope(`layers.${layer}.mamba.scan`, () =>
    ssmStep(body, ssm!, { dt: dt!, dtx: dtx!, b: b!, c: c! }, aT),
  );
  body.output(name('ssm_out'), step.ssm);
  body.output(name('readout'), step.readout);

  const [ssmFinal, readouts] = g.op(
    'Scan',
    [ssm0, seq.dt, seq.dtx, seq.b, seq.c],
    {
      body,
      num_scan_inputs: 4,
      scan_input_axes: [1, 1, 1, 1],
      scan_output_axes: [1],
    },
    2,
  );
  return { ssm: ssmFinal!, readouts: readouts! };
}

/**
 * A chunk of tokens from the cached state (zeros for a new sequence): conv [B, d_conv, Di] holds
 * the last d_conv raw inputs, so its newest d_conv - 1 are the conv's left context; ssm [B, N, Di]
 * starts the scan. h [B, S, d] right-padded; stepMask [B, S, 1] is 1 at valid positions. Padded
 * steps get dt = 0, which makes the SSM step the identity (exp(0) = 1, no drive), so the final
 * state is the state after lengths[b] tokens without a select in the Scan body.
 */
export function mambaPrefill(
  g: GraphBuilder,
  h: string,
  p: string,
  layer: number,
  m: MambaConfig,
  state: { conv: string; ssm: string },
  chunk: { lengths: string; stepMask: string },
): MambaOut {
  const [x, z] = inputProjection(g, h, p, m); // [B, S, Di]
  // --- causal depthwise conv over time, continuing the cached inputs ---
  const context = slice(g, state.conv, [1], [m.dConv], [1]); // [B, K - 1, Di]
  const xPadded = g.op1('Concat', [context, x], { axis: 1 }); // [B, S + K - 1, Di]
  const convIn = transpose(g, xPadded, [0, 2, 1]); // [B, Di, S + K - 1]: Conv's channel-major layout
  const conv = g.op1('Conv', [convIn, g.param(`${p}conv1d.weight`), ...convBias(g, p, m)], { group: m.dInner }); // [B, Di, S]
  const xc = silu(g, transpose(g, conv, [0, 2, 1])); // [B, S, Di]
  // --- selective scan ---
  const { dt, b, c } = selectiveParams(g, xc, p, m);
  const scan = ssmScan(g, p, layer, state.ssm, stepInputs(g, g.op1('Mul', [dt, chunk.stepMask]), xc, b, c));
  const y = skipAdded(g, p, scan.readouts, xc); // [B, S, Di]
  const finalConv = finalConvState(g, xPadded, chunk.lengths, m);
  return { out: gatedOutput(g, y, z, p), y, conv: finalConv, ssm: scan.ssm };
}

// --- decode: one token from the cached state --------------------------------------------------

/** h [B, 1, d]; conv [B, d_conv, Di]; ssm [B, N, Di]. */
export function mambaDecode(
  g: GraphBuilder,
  h: string,
  p: string,
  m: MambaConfig,
  conv: string,
  ssm: string,
): MambaOut {
  const [x, z] = inputProjection(g, h, p, m).map((t) => squeeze(g, t, [1])); // [B, Di]
  // --- conv state: drop the oldest input, append x ---
  const nextConv = g.op1('Concat', [slice(g, conv, [1], [m.dConv], [1]), unsqueeze(g, x!, [1])], { axis: 1 });
  const weight = transpose(g, reshape(g, g.param(`${p}conv1d.weight`), [m.dInner, m.dConv]), [1, 0]); // [K, Di]
  const summed = g.op1('ReduceSum', [g.op1('Mul', [nextConv, weight]), g.ints([1])], { keepdims: 0 }); // [B, Di]
  const xc = silu(g, m.convBias ? g.op1('Add', [summed, g.param(`${p}conv1d.bias`)]) : summed);
  // --- selective step ---
  const { dt, b, c } = selectiveParams(g, xc, p, m);
  const step = ssmStep(g, ssm, stepInputs(g, dt, xc, b, c), decayRatesT(g, p));
  const y = unsqueeze(g, skipAdded(g, p, step.readout, xc), [1]); // [B, 1, Di]
  return { out: gatedOutput(g, y, unsqueeze(g, z!, [1]), p), y, conv: nextConv, ssm: step.ssm };
}
