import { Tiktoken } from 'js-tiktoken/lite';
import o200kBase from 'js-tiktoken/ranks/o200k_base';

/**
 * OpenAI's o200k_base rank table as js-tiktoken ships it (the base of Phi-4-mini's vocabulary), and
 * js-tiktoken's own encoder over it: the reference our tokenizer.json built from the same table
 * must agree with, id for id.
 */

/** The raw table: `bpe_ranks` is "! <first rank> <base64 token> <base64 token> ...", one line per run. */
export const O200K_BASE = o200kBase;

/** Token bytes indexed by rank: 0 .. 199997, no gaps (checked). */
export function o200kTokens(): Uint8Array[] {
  const tokens: Uint8Array[] = [];
  for (const line of O200K_BASE.bpe_ranks.split('\n')) {
    if (line === '') continue;
    const [, first, ...encoded] = line.split(' ');
    // Ranks are positions in the returned array, so a run that does not start where the last ended
    // would shift every later id.
    if (Number(first) !== tokens.length) throw new Error(`o200k_base: a run starts at ${first}, not ${tokens.length}`);
    for (const token of encoded) tokens.push(Buffer.from(token, 'base64'));
  }
  return tokens;
}

/** js-tiktoken's o200k_base encoder: `encode(text)` refuses special tokens, as tiktoken does. */
export function o200kEncoder(): Tiktoken {
  return new Tiktoken(O200K_BASE);
}
