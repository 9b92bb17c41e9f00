/**
 * Text <-> token ids for one model. Implementations: the built-in byte tokenizer and Hugging Face
 * `tokenizer.json`. The engine only ever sees ids; everything text-shaped goes through here.
 */
export interface Tokenizer {
  /** Token ids for `text`, with whatever the tokenizer adds at the start (e.g. BOS). */
  encode(text: string): number[];
  /** Text of `ids`; special tokens (BOS, EOS, ...) produce no text. Never throws on an empty list. */
  decode(ids: number[]): string;
  /** Ids this tokenizer can produce or name: 0 .. vocabSize - 1. */
  readonly vocabSize: number;
  /** Ids that end a generation. */
  readonly eosTokenIds: number[];
  readonly bosTokenId: number | null;
}
