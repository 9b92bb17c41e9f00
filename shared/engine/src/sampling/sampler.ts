import { uniformAt } from './rng.js';
import { SamplingInvariantError } from './sampling-error.js';
import type { SamplingParams } from './sampling-params.js';
import { BestFirst, topKIds } from './top-candidates.js';

/**
 * The next token from one position's logits [V].
 *
 * temperature 0: argmax, the lowest id on ties. Otherwise p = softmax(logits / T), restricted to the
 * k most likely ids (topK > 0), then to the nucleus: the fewest most-likely ids whose probability,
 * renormalised after top-k as HF transformers and vLLM do it, sums to >= topP (at least one id).
 * The draw is uniformAt(seed, step), so the same (logits, params, step) always gives the same token.
 */
export function sampleToken(logits: Float32Array, params: SamplingParams, step: number): number {
  assertInvariants(logits, params, step);
  const best = argmax(logits);
  const invT = 1 / params.temperature;
  // Greedy, and the limits where softmax degenerates to it: every logit -inf, an +inf logit, or a
  // temperature so small that 1/T overflows (exp would see 0 * inf = NaN at the maximum).
  if (params.temperature === 0 || !Number.isFinite(logits[best]!) || !Number.isFinite(invT)) return best;

  const maxLogit = logits[best]!;
  // Unnormalised probability of an id: exp((l - max) / T) lies in [0, 1], so no overflow.
  const weight = (id: number) => Math.exp((logits[id]! - maxLogit) * invT);
  const u = uniformAt(params.seed, step);
  const k = params.topK > 0 && params.topK < logits.length ? params.topK : 0;
  if (k > 0) return drawFromOrdered(topKIds(logits, k), weight, params.topP, u);
  if (params.topP < 1) return drawFromNucleus(logits, weight, params.topP, u);
  return drawFromAll(logits.length, weight, u);
}

/** Ids best first (the top k): keep the nucleus of their renormalised mass, then draw. */
function drawFromOrdered(ids: Int32Array, weight: (id: number) => number, topP: number, u: number): number {
  const weights = Float64Array.from(ids, weight);
  let total = 0;
  for (const w of weights) total += w;
  let kept = ids.length;
  if (topP < 1) {
    let cumulative = 0;
    for (kept = 0; kept < ids.length && (kept === 0 || cumulative < topP * total); kept++) cumulative += weights[kept]!;
  }
  let keptMass = 0;
  for (let i = 0; i < kept; i++) keptMass += weights[i]!;
  return drawByMass(ids, weights, kept, u * keptMass);
}

/** No top-k: take ids best first only until their mass reaches topP of the whole vocabulary's. */
function drawFromNucleus(logits: Float32Array, weight: (id: number) => number, topP: number, u: number): number {
  let total = 0;
  for (let id = 0; id < logits.length; id++) total += weight(id);
  const order = new BestFirst(logits);
  const ids: number[] = [];
  const weights: number[] = [];
  let cumulative = 0;
  while (ids.length === 0 || cumulative < topP * total) {
    const id = order.next();
    if (id < 0) break;
    ids.push(id);
    weights.push(weight(id));
    cumulative += weights[weights.length - 1]!;
  }
  return drawByMass(ids, weights, ids.length, u * cumulative);
}

/** No truncation: one pass for the mass, one for the draw, in id order (no sorting needed). */
function drawFromAll(vocab: number, weight: (id: number) => number, u: number): number {
  let total = 0;
  for (let id = 0; id < vocab; id++) total += weight(id);
  const target = u * total;
  let cumulative = 0;
  let lastPositive = 0;
  for (let id = 0; id < vocab; id++) {
    const w = weight(id);
    if (w === 0) continue;
    cumulative += w;
    lastPositive = id;
    if (cumulative > target) return id;
  }
  // Rounding can leave target a hair above the summed mass; the last id with any mass takes it.
  return lastPositive;
}

/** The first of ids[0..count) at which the running mass passes target. */
function drawByMass(ids: ArrayLike<number>, weights: ArrayLike<number>, count: number, target: number): number {
  let cumulative = 0;
  let lastPositive = ids[0]!;
  for (let i = 0; i < count; i++) {
    if (weights[i] === 0) continue;
    cumulative += weights[i]!;
    lastPositive = ids[i]!;
    if (cumulative > target) return ids[i]!;
  }
  return lastPositive;
}

function argmax(logits: Float32Array): number {
  let best = 0;
  // Strict > keeps the lowest id among equal maxima.
  for (let id = 1; id < logits.length; id++) if (logits[id]! > logits[best]!) best = id;
  return best;
}

/** The API validates user input; reaching here with anything else is a bug upstream. */
function assertInvariants(logits: Float32Array, params: SamplingParams, step: number): void {
  const fail = (what: string) => {
    throw new SamplingInvariantError(`sampleToken: ${what}`);
  };
  if (logits.length === 0) fail('empty logits');
  if (!(params.temperature >= 0) || params.temperature === Infinity) fail(`temperature ${params.temperature}`);
  if (!Number.isInteger(params.topK) || params.topK < 0) fail(`topK ${params.topK}`);
  if (!(params.topP > 0 && params.topP <= 1)) fail(`topP ${params.topP}`);
  if (!Number.isSafeInteger(params.seed)) fail(`seed ${params.seed}`);
  if (!Number.isSafeInteger(step) || step < 0) fail(`step ${step}`);
  for (let id = 0; id < logits.length; id++) if (Number.isNaN(logits[id])) fail(`logit ${id} is NaN`);
}
