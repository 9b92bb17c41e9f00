import { Tokenizer as HfLibTokenizerClass } from '@huggingface/tokenizers';
import type { TokenizerModelConfig } from './tokenizer-config.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * The part of @huggingface/tokenizers' Tokenizer this class uses, typed as the library documents it.
 * Its published .d.ts files re-export without file extensions, which NodeNext resolution cannot
 * follow, so the class arrives untyped; this interface gives it its types back in one place.
 */
interface HfLibTokenizer {
  encode(text: string): { ids: number[] };
  decode(ids: number[], options: { skip_special_tokens: boolean; clean_up_tokenization_spaces: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_added_tokens_decoder(): Map<number, { special: boolean }>;
  get_vocab(withAddedTokens: boolean): Map<string, number>;
}
type HfLibTokenizerConstructor = new (tokenizerJson: object, tokenizerConfig: object) => HfLibTokenizer;

/**
 * A Hugging Face `tokenizer.json` (plus optional `tokenizer_config.json`) through
 * @huggingface/tokenizers. Encoding follows the file's post-processor, as `transformers` does;
 * decoding drops special tokens and the config's EOS/BOS ids, and never applies
 * `clean_up_tokenization_spaces`: that rewrite (" ." -> ".") is not prefix-stable, so streamed
 * text could not add up to the full decode, and the Rust tokenizers do not apply it either.
 */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly eosTokenIds: number[];
  readonly bosTokenId: number | null;
  private readonly lib: HfLibTokenizer;
  /** Ids that decode to no text: added tokens marked special, plus the config's EOS and BOS. */
  private readonly silentIds: Set<number>;

  constructor(tokenizerJson: object, tokenizerConfig: object, config: TokenizerModelConfig) {
    this.lib = new (HfLibTokenizerClass as HfLibTokenizerConstructor)(tokenizerJson, tokenizerConfig);
    this.vocabSize = largestId(this.lib.get_vocab(true)) + 1;
    this.eosTokenIds =
      config.eosTokenIds.length > 0 ? [...config.eosTokenIds] : this.eosFromTokenizerConfig(tokenizerConfig);
    this.bosTokenId = config.bosTokenId;
    this.silentIds = new Set([...this.eosTokenIds, ...(config.bosTokenId === null ? [] : [config.bosTokenId])]);
    for (const [id, token] of this.lib.get_added_tokens_decoder()) if (token.special) this.silentIds.add(id);
  }

  encode(text: string): number[] {
    return this.lib.encode(text).ids;
  }

  decode(ids: number[]): string {
    // Ids the vocabulary does not name (a padded embedding) carry no text, like special ones.
    const kept = ids.filter((id) => !this.silentIds.has(id) && this.lib.id_to_token(id) !== undefined);
    // The library throws on an empty list.
    if (kept.length === 0) return '';
    return this.lib.decode(kept, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }

  /** Fallback when config.json names no EOS: tokenizer_config.json's `eos_token`. */
  private eosFromTokenizerConfig(tokenizerConfig: object): number[] {
    const eos = (tokenizerConfig as { eos_token?: unknown }).eos_token;
    const content = typeof eos === 'string' ? eos : (eos as { content?: unknown } | undefined)?.content;
    const id = typeof content === 'string' ? this.lib.token_to_id(content) : undefined;
    return id === undefined ? [] : [id];
  }
}

function largestId(vocab: Map<string, number>): number {
  let largest = -1;
  for (const id of vocab.values()) if (id > largest) largest = id;
  return largest;
}
