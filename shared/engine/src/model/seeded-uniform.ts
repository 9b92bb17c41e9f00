/**
 * mulberry32: a tiny seeded generator of uniforms in [0, 1), so a seed names the same values on every
 * machine (initial weights, benchmark states and texts). Not for sampling: that is counter-based
 * (sampling/rng.ts), so a resumed generation draws what the uninterrupted one would have.
 */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
