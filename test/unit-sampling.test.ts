import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleToken, SamplingInvariantError, type SamplingParams, uniformAt } from '@sambay/engine';

const params = (p: Partial<SamplingParams>): SamplingParams => ({ temperature: 1, topK: 0, topP: 1, seed: 0, ...p });

/** Deterministic pseudo-random logits in [-4, 4). */
function randomLogits(vocab: number, salt: number): Float32Array {
  return Float32Array.from({ length: vocab }, (_, i) => uniformAt(salt, i) * 8 - 4);
}

function softmax(logits: Float32Array, temperature: number): number[] {
  const max = Math.max(...logits);
  const e = Array.from(logits, (l) => Math.exp((l - max) / temperature));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

/** Ids ordered by decreasing logit, lower id first on ties. */
const ranked = (logits: Float32Array) => [...logits.keys()].sort((a, b) => logits[b]! - logits[a]! || a - b);

test('uniformAt: in [0, 1), a pure function of (seed, step), and roughly uniform', () => {
  assert.equal(uniformAt(42, 7), uniformAt(42, 7));
  assert.notEqual(uniformAt(42, 7), uniformAt(43, 7));
  assert.notEqual(uniformAt(42, 7), uniformAt(42, 8));
  const n = 20000;
  let sum = 0;
  const buckets = new Array(10).fill(0);
  for (let t = 0; t < n; t++) {
    const u = uniformAt(1234, t);
    assert.ok(u >= 0 && u < 1);
    sum += u;
    buckets[Math.floor(u * 10)]++;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01);
  for (const b of buckets) assert.ok(Math.abs(b - n / 10) < 0.1 * (n / 10), `bucket ${b}`);
});

test('temperature 0 is argmax, the lowest id on ties', () => {
  const logits = randomLogits(1000, 1);
  assert.equal(sampleToken(logits, params({ temperature: 0, seed: 5 }), 3), ranked(logits)[0]);
  const tied = Float32Array.from([1, 3, 0, 3, 3]);
  for (let step = 0; step < 20; step++)
    assert.equal(sampleToken(tied, params({ temperature: 0, seed: step }), step), 1);
});

test('same (seed, step) gives the same token; different seeds differ over many steps', () => {
  const logits = randomLogits(64, 2).map((x) => x / 4); // flat enough that draws vary
  const p = params({ temperature: 1, seed: 99 });
  const run = (seed: number) => Array.from({ length: 200 }, (_, step) => sampleToken(logits, { ...p, seed }, step));
  assert.deepEqual(run(99), run(99));
  const other = run(100);
  const differing = run(99).filter((id, i) => id !== other[i]).length;
  assert.ok(differing > 150, `only ${differing} of 200 draws differ`);
});

test('empirical frequencies match softmax(logits / T)', () => {
  const logits = Float32Array.from([2, 1, 0.5, 0, -1, -3]);
  for (const temperature of [1, 0.5, 2]) {
    const expected = softmax(logits, temperature);
    const counts = new Array(logits.length).fill(0);
    const n = 40000;
    for (let seed = 0; seed < n; seed++) counts[sampleToken(logits, params({ temperature, seed }), seed % 7)]++;
    expected.forEach((p, id) => {
      const tolerance = 4 * Math.sqrt((p * (1 - p)) / n) + 1e-3;
      assert.ok(Math.abs(counts[id] / n - p) < tolerance, `T=${temperature} id ${id}: ${counts[id] / n} vs ${p}`);
    });
  }
});

test('top-k: never outside the k best, and with k > 1 uses more than the best', () => {
  const logits = randomLogits(5000, 3).map((x) => x / 8);
  const k = 5;
  const best = new Set(ranked(logits).slice(0, k));
  const seen = new Set<number>();
  for (let seed = 0; seed < 2000; seed++) {
    const id = sampleToken(logits, params({ temperature: 1, topK: k, seed }), seed);
    assert.ok(best.has(id), `id ${id} outside the top ${k}`);
    seen.add(id);
  }
  assert.equal(seen.size, k, 'every one of the k best is drawn at some point');
});

test('top-k: frequencies are softmax renormalised over the k best; ties at the cut keep lower ids', () => {
  const logits = Float32Array.from([0, 1, 2, 3, 1, 1]);
  const k = 3; // 3, 2, and the lowest-id 1 (id 1)
  const expected = softmax(Float32Array.from([3, 2, 1]), 1);
  const counts = new Map<number, number>();
  const n = 30000;
  for (let seed = 0; seed < n; seed++) {
    const id = sampleToken(logits, params({ topK: k, seed }), 0);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), [1, 2, 3]);
  [3, 2, 1].forEach((id, i) => {
    assert.ok(Math.abs(counts.get(id)! / n - expected[i]!) < 0.015);
  });
});

test('top-p: never outside the nucleus (smallest set with mass >= p), with or without top-k', () => {
  const logits = randomLogits(3000, 4).map((x) => x * 1.5);
  const order = ranked(logits);
  const probs = softmax(logits, 0.8);
  for (const topP of [0.3, 0.7, 0.9]) {
    let mass = 0;
    let size = 0;
    while (mass < topP) mass += probs[order[size++]!]!;
    const nucleus = new Set(order.slice(0, size));
    const seen = new Set<number>();
    for (let seed = 0; seed < 1500; seed++) {
      const id = sampleToken(logits, params({ temperature: 0.8, topP, seed }), 1);
      assert.ok(nucleus.has(id), `top-p ${topP}: id ${id} outside the nucleus of ${size}`);
      seen.add(id);
    }
    assert.ok(seen.size > 1 || size === 1);
    // With top-k as well, the nucleus is taken within the k best (renormalised).
    const k = 40;
    const kProbs = softmax(
      Float32Array.from(order.slice(0, k), (id) => logits[id]!),
      0.8,
    );
    let kMass = 0;
    let kSize = 0;
    while (kMass < topP) kMass += kProbs[kSize++]!;
    const kNucleus = new Set(order.slice(0, kSize));
    for (let seed = 0; seed < 500; seed++) {
      const id = sampleToken(logits, params({ temperature: 0.8, topK: k, topP, seed }), 2);
      assert.ok(kNucleus.has(id), `top-k ${k} top-p ${topP}: id ${id}`);
    }
  }
});

test('top-p: a dominant token alone fills the nucleus', () => {
  const logits = Float32Array.from([0, 10, 0, 0]);
  for (let seed = 0; seed < 200; seed++) assert.equal(sampleToken(logits, params({ topP: 0.5, seed }), seed), 1);
});

test('temperature -> 0 tends to argmax', () => {
  const logits = randomLogits(500, 5);
  const best = ranked(logits)[0];
  for (const temperature of [1e-3, 1e-8, 1e-30, Number.MIN_VALUE]) {
    for (let seed = 0; seed < 50; seed++) assert.equal(sampleToken(logits, params({ temperature, seed }), seed), best);
  }
});

test('restarting at step t reproduces the tail of an uninterrupted generation', () => {
  // A toy "model": logits depend on the previous token, so a diverging draw would change the tail.
  const logitsAfter = (prev: number) => randomLogits(50, 1000 + prev).map((x) => x / 3);
  const p = params({ temperature: 0.9, topK: 20, topP: 0.95, seed: 7 });
  const generate = (prefix: number[], from: number, to: number) => {
    const out = [...prefix];
    for (let step = from; step < to; step++) out.push(sampleToken(logitsAfter(out.at(-1) ?? 0), p, step));
    return out;
  };
  const whole = generate([], 0, 60);
  for (const t of [1, 17, 59]) assert.deepEqual(generate(whole.slice(0, t), t, 60), whole);
});

test('-inf logits are never drawn; broken invariants throw a typed error', () => {
  const logits = Float32Array.from([-Infinity, 0, -Infinity, 0]);
  for (let seed = 0; seed < 100; seed++) assert.ok([1, 3].includes(sampleToken(logits, params({ seed }), 0)));
  assert.throws(() => sampleToken(Float32Array.from([0, NaN]), params({}), 0), SamplingInvariantError);
  assert.throws(() => sampleToken(logits, params({ topP: 0 }), 0), SamplingInvariantError);
  assert.throws(() => sampleToken(logits, params({ temperature: -1 }), 0), SamplingInvariantError);
  assert.throws(() => sampleToken(logits, params({ seed: 1.5 }), 0), SamplingInvariantError);
});

// Tests assert no speed (a busy machine would fail them; the partial selection that avoids a full
// sort is for benchmarks to time): this checks that on a vocabulary that large it still draws only
// from the k best.
test('top-k + top-p on a large vocabulary draws only from the k best', () => {
  const logits = randomLogits(200_000, 6);
  const best = new Set(ranked(logits).slice(0, 50));
  for (let step = 0; step < 20; step++) {
    const id = sampleToken(logits, params({ topK: 50, topP: 0.9, seed: 1 }), step);
    assert.ok(best.has(id), `step ${step}: id ${id} outside the top 50`);
  }
});
