import { CONTRIB_DOMAIN, type AttrValue, type GraphBuilder } from './onnx-builder.js';

/**
 * Thin wrappers over single ONNX ops (opset 18) so block code reads like the equations.
 * Each takes the builder first and returns the output value name.
 */

/** The accuracy level MatMulNBits runs at: int8 activations, the fast path (level 0 is 3x slower on CPU). */
const NBITS_ACCURACY_LEVEL = 4;

/**
 * y = x W^T (+ b) for a checkpoint weight W [out, in], read where it lies: f32 through FusedMatMul
 * with transB (a Transpose node would be constant-folded into a second copy of W), quantized weights
 * through MatMulNBits, which takes W in the same [out, in] orientation.
 */
export function linear(g: GraphBuilder, x: string, weight: string, bias?: string): string {
  const q = g.quantized(weight);
  const y = q
    ? g.op1(
        'MatMulNBits',
        [x, q.blocks(), q.scales],
        { K: q.k, N: q.n, bits: q.bits, block_size: q.blockSize, accuracy_level: NBITS_ACCURACY_LEVEL },
        CONTRIB_DOMAIN,
      )
    : g.op1('FusedMatMul', [x, g.param(weight)], { transB: 1 }, CONTRIB_DOMAIN);
  return bias ? g.op1('Add', [y, g.param(bias)]) : y;
}

/** Rows `ids` of an embedding table E [vocab, d] (f32, or quantized as `linear` reads it). */
export function gatherRows(g: GraphBuilder, table: string, ids: string): string {
  const q = g.quantized(table);
  if (!q) return g.op1('Gather', [g.param(table), ids]);
  const attrs = { bits: q.bits, block_size: q.blockSize, gather_axis: 0, quantize_axis: 1 };
  return g.op1('GatherBlockQuantized', [q.rows(), ids, q.scales], attrs, CONTRIB_DOMAIN);
}

export const silu = (g: GraphBuilder, x: string) => g.op1('Mul', [x, g.op1('Sigmoid', [x])]);

/**
 * log(1 + e^x) from vectorised ops: max(x, log(1 + e^min(x, 80))), exact to f32 on both sides of the
 * clamp (above 80 log(1 + e^x) rounds to x). ORT's own Softplus evaluates element by element: at
 * 16 x 256 values it took 41 us against 9 us for these five kernels (and 2.9 against 1.6 us at 256).
 */
export function softplus(g: GraphBuilder, x: string): string {
  const e = g.op1('Exp', [g.op1('Min', [x, g.floats([80], [])])]);
  return g.op1('Max', [x, g.op1('Log', [g.op1('Add', [e, g.floats([1], [])])])]);
}

export const reshape = (g: GraphBuilder, x: string, dims: number[]) => g.op1('Reshape', [x, g.ints(dims)]);

/** Reshape to constant dims and [1]-int64 values, concatenated in order (0 and -1 as in Reshape). */
export function reshapeDyn(g: GraphBuilder, x: string, parts: (number[] | string)[]): string {
  const shape = g.op1(
    'Concat',
    parts.map((part) => (typeof part === 'string' ? part : g.ints(part))),
    { axis: 0 },
  );
  return g.op1('Reshape', [x, shape]);
}

export const transpose = (g: GraphBuilder, x: string, perm: number[]) => g.op1('Transpose', [x], { perm });

export const unsqueeze = (g: GraphBuilder, x: string, axes: number[]) => g.op1('Unsqueeze', [x, g.ints(axes)]);

export const squeeze = (g: GraphBuilder, x: string, axes: number[]) => g.op1('Squeeze', [x, g.ints(axes)]);

export function split(g: GraphBuilder, x: string, sizes: number[], axis: number): string[] {
  return g.op('Split', [x, g.ints(sizes)], { axis }, sizes.length);
}

/** x[starts:ends] along `axes` (ends may be huge to mean "to the end"). */
export function slice(g: GraphBuilder, x: string, starts: number[], ends: number[], axes: number[]): string {
  return g.op1('Slice', [x, g.ints(starts), g.ints(ends), g.ints(axes)]);
}

/** Size of dimension `axis` of x, as an int64 tensor of shape [1]. */
export const dimOf = (g: GraphBuilder, x: string, axis: number) => g.op1('Shape', [x], { start: axis, end: axis + 1 });

/** [0, 1, ..., n - 1] (int64) for an int64 scalar-or-[1] n. */
export function range(g: GraphBuilder, n: string): string {
  const scalar = g.op1('Squeeze', [n]);
  return g.op1('Range', [g.ints([0], []), scalar, g.ints([1], [])]);
}

/**
 * Sum over the last axis, kept as size 1: x [..., n] times ones [n, 1]. Unlike ReduceSum, whose
 * rounding depends on n (its vector body and scalar tail split the row by length), this adds each
 * row in the same order however long it is, so zeros appended by masking or padding leave the sum
 * bit for bit unchanged: what lets a sequence decode identically in any batch.
 */
export function sumLast(g: GraphBuilder, x: string): string {
  const n = g.op1('Shape', [x], { start: -1 });
  const ones = g.op1('Expand', [g.floats([1], [1, 1]), g.op1('Concat', [n, g.ints([1])], { axis: 0 })]);
  return g.op1('MatMul', [x, ones]);
}

/** 0 where `allowed`, a large negative number elsewhere: added to attention scores before Softmax. */
export function additiveMask(g: GraphBuilder, allowed: string): string {
  return g.op1('Where', [allowed, g.floats([0], []), g.floats([-1e9], [])]);
}

/**
 * com.microsoft FusedMatMul: alpha * op(a) op(b). `transA` / `transB` swap the last two axes;
 * `transBatchA` / `transBatchB` move the first axis in front of the last two ([P, N, k] is read as
 * [N, P, k]). The operands are read in place, so scores q K^T over a cache fed as it is cost no
 * transpose of the cache, and the scale rides along as alpha.
 */
export function fusedMatMul(
  g: GraphBuilder,
  a: string,
  b: string,
  attrs: { transA?: 1; transB?: 1; transBatchA?: 1; transBatchB?: 1; alpha?: number },
): string {
  const named: Record<string, AttrValue> = {};
  for (const [name, value] of Object.entries(attrs)) named[name] = name === 'alpha' ? { f: value } : value;
  return g.op('FusedMatMul', [a, b], named, 1, CONTRIB_DOMAIN)[0]!;
}
