/**
 * The merges a Hugging Face BPE needs to reproduce a tiktoken rank table. tiktoken has no merge
 * list: it joins whichever adjacent pair forms the lowest-ranked token. Replaying that on a token's
 * own bytes with only the ranks below it stops at the two parts the token was trained from; listing
 * those pairs in rank order makes "lowest merge index first" pick the same pair at every step.
 */

/** Bytes as a string of code units 0-255, the cheapest Map key for a byte sequence. */
const byteKey = (bytes: Uint8Array): string => String.fromCharCode(...bytes);

/**
 * For each token of two or more bytes, by rank, the ranks of its left and right parts. A token the
 * lower ranks cannot reach as two parts (none in o200k) gets no merge: tiktoken only emits it when
 * a whole pre-token equals it, which `ignore_merges` reproduces.
 */
export function mergesFromRanks(tokens: readonly Uint8Array[]): [left: number, right: number][] {
  const rankOf = new Map(tokens.map((bytes, rank) => [byteKey(bytes), rank]));
  const merges: [number, number][] = [];
  tokens.forEach((bytes, rank) => {
    if (bytes.length < 2) return;
    const parts = partsBelow(bytes, rank, rankOf);
    if (parts.length === 2) merges.push([rankOf.get(parts[0]!)!, rankOf.get(parts[1]!)!]);
  });
  return merges;
}

/** tiktoken's byte-pair loop over `bytes`, using only tokens ranked below `limit`. */
function partsBelow(bytes: Uint8Array, limit: number, rankOf: ReadonlyMap<string, number>): string[] {
  const parts = Array.from(bytes, (b) => String.fromCharCode(b));
  for (;;) {
    let best = -1;
    let bestRank = limit;
    for (let i = 0; i + 1 < parts.length; i++) {
      const rank = rankOf.get(parts[i]! + parts[i + 1]!);
      if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
    }
    if (best < 0) return parts;
    parts.splice(best, 2, parts[best]! + parts[best + 1]!);
  }
}
