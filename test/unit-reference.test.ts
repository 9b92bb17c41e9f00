import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { initWeights, loadModelDir, tensor, transformerLayerTypes, writeModelDir } from '@sambay/engine/model';
import {
  type DiffAttentionParams,
  differentialAttention,
  emptyMambaState,
  gmu,
  lambdaInit,
  mambaStep,
  type MambaWeights,
  mlp,
  referenceLogits,
} from '@sambay/engine/reference';
import { presetModel, tinySpec } from './helpers/models.js';

/** The oracle itself: properties of the whole forward pass, and blocks against hand-computed values. */

const f32 = (...values: number[]) => Float32Array.from(values);
const silu = (x: number) => x / (1 + Math.exp(-x));
const softplus = (x: number) => Math.log(1 + Math.exp(x));
const ids = (n: number, salt = 0) => Array.from({ length: n }, (_, i) => (i * 29 + salt * 7 + 3) % 64);

function assertNear(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)),
      `${what}[${i}]: ${actual[i]} != ${expected[i]}`,
    );
  }
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/** Which positions' logits change when `changed` replaces `base` (same length). */
function influenced(overrides: Record<string, unknown>, base: number[], changed: number[]): boolean[] {
  const spec = tinySpec(overrides, 4);
  const [a, b] = [referenceLogits(spec, base), referenceLogits(spec, changed)];
  return a.map((logits, p) => maxDiff(logits, b[p]!) > 1e-6);
}

const withToken = (seq: number[], at: number, id: number) => seq.map((t, i) => (i === at ? id : t));

test('SambaY: logits at position p do not depend on later tokens, and do on earlier ones', () => {
  const base = ids(14);
  const changed = base.map((t, i) => (i >= 8 ? (t + 17) % 64 : t));
  const flags = influenced({}, base, changed);
  assert.deepEqual(
    flags,
    base.map((_, i) => i >= 8),
  );
  // The cross-decoder runs over every position, so the memory and shared K/V reach far positions.
  assert.ok(influenced({}, base, withToken(base, 0, 9)).every(Boolean), 'token 0 reaches every position');
});

test('sliding window: tokens older than the window have no influence; full attention sees them', () => {
  const base = ids(10, 1);
  const changed = withToken(base, 0, (base[0]! + 5) % 64);
  // One layer of window 3: token 0 is visible to positions 0..2 only.
  const oneLayer = { num_hidden_layers: 1, sliding_window: 3, layer_types: ['sliding_attention'] };
  assert.deepEqual(
    influenced(oneLayer, base, changed),
    base.map((_, p) => p <= 2),
  );
  // Two layers: the receptive field is 2 * (W - 1) + 1 = 5 positions.
  const twoLayers = {
    num_hidden_layers: 2,
    sliding_window: 3,
    layer_types: ['sliding_attention', 'sliding_attention'],
  };
  assert.deepEqual(
    influenced(twoLayers, base, changed),
    base.map((_, p) => p <= 4),
  );
  const full = { num_hidden_layers: 1, sliding_window: 3, layer_types: ['full_attention'] };
  assert.ok(influenced(full, base, changed).every(Boolean), 'full attention: token 0 reaches every position');
});

test('Mamba-only plan: causal, unbounded memory, and order-sensitive', () => {
  const mambaOnly = { num_hidden_layers: 4, layer_types: Array(4).fill('mamba') };
  const base = ids(16, 2);
  const later = base.map((t, i) => (i >= 10 ? (t + 3) % 64 : t));
  assert.deepEqual(
    influenced(mambaOnly, base, later),
    base.map((_, i) => i >= 10),
  );
  assert.ok(influenced(mambaOnly, base, withToken(base, 0, 33)).every(Boolean), 'token 0 reaches position 15');
  // Same multiset of tokens, two swapped: the state remembers the order.
  const swapped = withToken(withToken(base, 2, base[3]!), 3, base[2]!);
  const flags = influenced(mambaOnly, base, swapped);
  assert.deepEqual(flags.slice(0, 2), [false, false]);
  assert.ok(flags.slice(3).every(Boolean), 'a swap changes every later position');
});

test('untied head: logits come from lm_head.weight, not the embedding', () => {
  const spec = tinySpec({ tie_word_embeddings: false }, 2);
  const head = spec.weights.get('lm_head.weight')!;
  const before = referenceLogits(spec, [3, 4, 5]);
  head.data.fill(0, 7 * 32, 8 * 32); // row of token 7
  const after = referenceLogits(spec, [3, 4, 5]);
  after.forEach((logits, p) => {
    assert.equal(logits[7], 0);
    assert.deepEqual(
      logits.filter((_, v) => v !== 7),
      before[p]!.filter((_, v) => v !== 7),
    );
  });
});

function diffParams(numHeads: number, numKvHeads: number, headDim: number, layerIndex: number): DiffAttentionParams {
  const filled = (n: number, v: number) => new Float32Array(n).fill(v);
  return {
    numHeads,
    numKvHeads,
    headDim,
    layerIndex,
    lambdaQ1: filled(headDim, 0.5),
    lambdaK1: filled(headDim, 0.2), // exp(hd * 0.1)
    lambdaQ2: filled(headDim, 0),
    lambdaK2: filled(headDim, 0.3), // exp(0) = 1
    subln: Float32Array.from({ length: 2 * headDim }, (_, i) => 1 + 0.25 * i),
  };
}

/** RMSNorm_{2hd}(x) * subln * (1 - lambda_init), written out. */
function normed(x: number[], subln: Float32Array, layerIndex: number): number[] {
  const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + 1e-5);
  return x.map((v, i) => (v / rms) * subln[i]! * (1 - lambdaInit(layerIndex)));
}

test('differential attention over one key: closed form, with the GQA group and head-pair interleave', () => {
  // H = 8 query heads, KV = 4, hd = 1: stripe query heads j = 0..3 use stripe KV head floor(j / 2).
  const p = diffParams(8, 4, 1, 3);
  assert.equal(lambdaInit(3), 0.8 - 0.6 * Math.exp(-0.9));
  const lambda = Math.exp(0.1) - 1 + lambdaInit(3);
  const q = f32(0.3, -1, 2, 0.5, 1, 1, -2, 4);
  const v = f32(1, 2, 3, 4); // one value per KV head
  const out = differentialAttention(p, q, [f32(0.7, -0.2, 1.5, 3)], [v]);
  // softmax over one key is 1, so attn1 = attn2 = [v_{2g} || v_{2g+1}] and the pair is (1 - lambda) times that.
  const pair = (g: number) => normed([(1 - lambda) * v[2 * g]!, (1 - lambda) * v[2 * g + 1]!], p.subln, 3);
  assertNear(out, [...pair(0), ...pair(0), ...pair(1), ...pair(1)], 'out');
});

test('differential attention over two keys: stripes are even/odd heads, each with its own softmax', () => {
  // H = 4, KV = 2, hd = 1: pair 0 = query heads 0 (with KV head 0) and 1 (with KV head 1), pair 1 = heads 2 and 3.
  const p = diffParams(4, 2, 1, 1);
  const lambda = Math.exp(0.1) - 1 + lambdaInit(1);
  const q = f32(1, -2, 0.5, 3);
  const keys = [f32(1, 0.5), f32(-1, 2)];
  const values = [f32(2, -1), f32(0.5, 4)];
  const softmax2 = (s0: number, s1: number) => [1 / (1 + Math.exp(s1 - s0)), 1 / (1 + Math.exp(s0 - s1))];
  const expectedPair = (qa: number, qb: number) => {
    const p1 = softmax2(qa * keys[0]![0]!, qa * keys[1]![0]!); // scale 1/sqrt(1)
    const p2 = softmax2(qb * keys[0]![1]!, qb * keys[1]![1]!);
    const mix = (probs: number[], h: number) => probs[0]! * values[0]![h]! + probs[1]! * values[1]![h]!;
    const attn1 = [mix(p1, 0), mix(p1, 1)];
    const attn2 = [mix(p2, 0), mix(p2, 1)];
    return normed([attn1[0]! - lambda * attn2[0]!, attn1[1]! - lambda * attn2[1]!], p.subln, 1);
  };
  const out = differentialAttention(p, q, keys, values);
  assertNear(out, [...expectedPair(q[0]!, q[1]!), ...expectedPair(q[2]!, q[3]!)], 'out');
});

test('mambaStep on a scalar example: conv order, selective scan, gate, and the state it carries', () => {
  // d = dInner = N = dtRank = 1, dConv = 2.
  const w: MambaWeights = {
    inProj: tensor([2, 1], f32(1, 2)), // x = h, z = 2h
    conv1dWeight: tensor([1, 1, 2], f32(0.5, 1)), // older input x 0.5, newest x 1
    conv1dBias: tensor([1], f32(0.1)),
    xProj: tensor([3, 1], f32(1, 0.5, 2)), // dtl = xc, B = 0.5 xc, C = 2 xc
    dtProjWeight: tensor([1, 1], f32(1)),
    dtProjBias: tensor([1], f32(-0.5)),
    aLog: tensor([1, 1], f32(0)), // A = -1
    d: tensor([1], f32(1.5)),
    outProj: tensor([1, 1], f32(3)),
  };
  const state = emptyMambaState(w);
  let ssm = 0;
  let previousX = 0;
  for (const h of [1, -2]) {
    const xc = silu(0.5 * previousX + 1 * h + 0.1);
    const dt = softplus(xc - 0.5);
    ssm = Math.exp(-dt) * ssm + dt * xc * (0.5 * xc);
    const y = ssm * (2 * xc) + 1.5 * xc;
    const out = 3 * y * silu(2 * h);
    const got = mambaStep(w, f32(h), state);
    assertNear(got.y, [y], `y at h=${h}`);
    assertNear(got.out, [out], `out at h=${h}`);
    assertNear(state.conv, [previousX, h], `conv state at h=${h}`);
    assertNear(state.ssm, [ssm], `ssm state at h=${h}`);
    previousX = h;
  }
});

test('GMU = out_proj(silu(in_proj x) * memory); MLP = fc2(u * silu(g)), gate first', () => {
  const gmuWeights = { inProj: tensor([2, 2], f32(1, 0, 0, 2)), outProj: tensor([2, 2], f32(1, 1, 0, 1)) };
  const gated = [silu(1) * 2, silu(-2) * 3]; // in_proj [1, -1] = [1, -2], memory [2, 3]
  assertNear(gmu(gmuWeights, f32(1, -1), f32(2, 3)), [gated[0]! + gated[1]!, gated[1]!], 'gmu');

  const mlpWeights = { fc1: tensor([2, 1], f32(2, 3)), fc2: tensor([1, 1], f32(-1)) }; // g = 2x, u = 3x
  assertNear(mlp(mlpWeights, f32(0.5)), [-(1.5 * silu(1))], 'mlp');
});

// Tests assert no speed (a busy machine would fail them); speed is for benchmarks.
test('a 100-token sequence on the default tiny model gives 100 rows of finite logits', () => {
  const spec = tinySpec({}, 9);
  const logits = referenceLogits(spec, ids(100, 3));
  assert.equal(logits.length, 100);
  assert.ok(logits.every((l) => l.length === 64 && l.every(Number.isFinite)));
});

test('the Transformer variant of the tiny preset (all full attention) runs, causally, through a written directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sambay-reference-'));
  try {
    await writeModelDir(dir, { preset: 'tiny', seed: 3, layerTypes: 'transformer' });
    const model = await loadModelDir(dir);
    assert.deepEqual(
      model.plan.layers.map((l) => l.kind),
      transformerLayerTypes(8),
    );
    const prompt = [256, ...Buffer.from('hello world')];
    const logits = referenceLogits(model, prompt);
    assert.ok(logits.every((l) => l.length === 258 && l.every(Number.isFinite)));
    const changed = referenceLogits(model, [...prompt.slice(0, 6), 120, ...prompt.slice(7)]);
    assert.deepEqual(
      logits.map((l, p) => maxDiff(l, changed[p]!) > 1e-6),
      prompt.map((_, p) => p >= 6),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the writer round-trips: a written SambaY directory gives the logits of the in-memory preset weights', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sambay-reference-'));
  try {
    await writeModelDir(dir, { seed: 5 });
    const { config, plan } = presetModel('tiny');
    const prompt = [256, ...Buffer.from('round trip')];
    const expected = referenceLogits({ config, plan, weights: initWeights(config, plan, 5) }, prompt);
    assert.deepEqual(referenceLogits(await loadModelDir(dir), prompt), expected);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
