import type { Tokenizer } from './tokenizer.js';

/** Ids 0-255 are the UTF-8 bytes themselves; the two specials follow them. */
export const BYTE_BOS_ID = 256;
export const BYTE_EOS_ID = 257;
export const BYTE_VOCAB_SIZE = 258;

export interface ByteTokenizerOptions {
  /** Further ids that end a generation (e.g. from config.json); 257 always does. */
  extraEosTokenIds?: readonly number[];
}

/**
 * The built-in model's tokenizer: one token per UTF-8 byte, so any text round-trips and a fresh
 * clone needs no vocabulary file. Decoding is lossy only for byte sequences that are not UTF-8,
 * which become U+FFFD exactly as TextDecoder does it.
 */
export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = BYTE_VOCAB_SIZE;
  readonly bosTokenId = BYTE_BOS_ID;
  readonly eosTokenIds: number[];
  private readonly encoder = new TextEncoder();
  // fatal: false turns invalid sequences into U+FFFD; ignoreBOM keeps a leading EF BB BF as text.
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(options: ByteTokenizerOptions = {}) {
    this.eosTokenIds = [...new Set([BYTE_EOS_ID, ...(options.extraEosTokenIds ?? [])])];
  }

  encode(text: string): number[] {
    return [BYTE_BOS_ID, ...this.encoder.encode(text)];
  }

  decode(ids: number[]): string {
    // Anything that is not a byte (BOS, EOS, ids of a padded embedding) carries no text.
    const bytes = Uint8Array.from(ids.filter((id) => id >= 0 && id < 256));
    return this.decoder.decode(bytes);
  }
}
