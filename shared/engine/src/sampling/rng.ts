/**
 * Counter-based randomness: the draw for step t is a pure function of (seed, t), with no generator
 * state to carry, so a generation restarted at step t (on another worker, after a crash) draws
 * exactly what the uninterrupted one would have.
 *
 * The hash is splitmix64's finaliser applied twice: once to the seed, once to (mixed seed + t * golden
 * gamma), i.e. splitmix64's t-th output for a seed-dependent state. 64-bit math through BigInt; one
 * call per sampled token, so its cost does not matter.
 */
const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;

function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** Uniform in [0, 1) with 53 random bits, for sampling step `step` of a generation seeded `seed`. */
export function uniformAt(seed: number, step: number): number {
  // Negative or > 2^64 seeds wrap into 64 bits rather than failing: any integer names a stream.
  const state = mix64(BigInt.asUintN(64, BigInt(seed)) ^ GOLDEN_GAMMA);
  const bits = mix64((state + BigInt(step + 1) * GOLDEN_GAMMA) & MASK64);
  return Number(bits >> 11n) / 2 ** 53;
}
