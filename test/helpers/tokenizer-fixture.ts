import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A small byte-level BPE tokenizer.json made here, so tests exercise the real
 * @huggingface/tokenizers path without downloading a vocabulary. Layout as GPT-2's: ByteLevel
 * pre-tokenizer and decoder, the 256 byte symbols as ids 0-255 (in byte order), merges learned by a
 * tiny trainer from TRAINING_TEXT, then `<|endoftext|>` as the one special token.
 */

/** Text the merges are learned from: common English words, and accented letters and an emoji so
 * that some merges join the bytes of one character and others leave characters split. */
const TRAINING_TEXT = [
  'the cat sat on the mat and the dog sat on the log',
  'there is the thing that the other one said to them',
  'hello world, hello there, the world is wide',
  'café crème, déjà vu, naïve café, the café is open',
  'ünïcödé täkës mörë bÿtës',
  'smile 🙂 smile 🙂 the end',
].join('\n');

export const FIXTURE_MERGE_COUNT = 60;
export const FIXTURE_EOS_TOKEN = '<|endoftext|>';

export interface TokenizerFixture {
  /** Directory holding tokenizer.json and tokenizer_config.json. */
  dir: string;
  tokenizerPath: string;
  eosTokenId: number;
  /** Ids 0 .. vocabSize-1, the special token included. */
  vocabSize: number;
}

/** The 256 bytes as printable characters, GPT-2's table: printable Latin-1 maps to itself. */
export function bytesToUnicode(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) table.push(String.fromCodePoint(printable(b) ? b : 256 + shifted++));
  return table;
}

/** GPT-2's pre-tokenizer split (the one @huggingface/tokenizers' ByteLevel uses with use_regex). */
const PRE_TOKENIZE = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Learns `count` merges: repeatedly join the most frequent adjacent pair (ties: first in text order). */
export function trainMerges(text: string, count: number): [string, string][] {
  const table = bytesToUnicode();
  const encoder = new TextEncoder();
  const words = (text.match(PRE_TOKENIZE) ?? []).map((w) => Array.from(encoder.encode(w), (b) => table[b]!));
  const merges: [string, string][] = [];
  while (merges.length < count) {
    const counts = new Map<string, number>();
    for (const word of words) {
      for (let i = 0; i + 1 < word.length; i++) {
        const key = JSON.stringify([word[i], word[i + 1]]);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    let bestKey: string | null = null;
    for (const [key, n] of counts) if (bestKey === null || n > counts.get(bestKey)!) bestKey = key;
    if (bestKey === null) break;
    const [a, b] = JSON.parse(bestKey) as [string, string];
    merges.push([a, b]);
    for (const word of words) {
      for (let i = 0; i + 1 < word.length; i++) {
        if (word[i] === a && word[i + 1] === b) word.splice(i, 2, a + b);
      }
    }
  }
  return merges;
}

/** What tells one byte-level BPE tokenizer.json from another. */
export interface BpeTokenizerParts {
  special: Readonly<Record<string, number>>; // added special tokens: content -> id
  preTokenizer: object;
  postProcessor: object;
  decoder: object;
  /** Whether a pre-token that is itself in the vocabulary is one id before any merge (tiktoken's way). */
  ignoreMerges: boolean;
  vocab: Record<string, number>;
  merges: [string, string][];
}

/** tokenizer.json of a byte-level BPE model, field for field as the Rust tokenizers library writes it. */
export function bpeTokenizerJson(parts: BpeTokenizerParts): object {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: Object.entries(parts.special).map(([content, id]) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: parts.preTokenizer,
    post_processor: parts.postProcessor,
    decoder: parts.decoder,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: parts.ignoreMerges,
      vocab: parts.vocab,
      merges: parts.merges,
    },
  };
}

/** tokenizer.json content, as the Rust tokenizers library writes it. */
export function buildTokenizerJson(): { json: object; eosTokenId: number; vocabSize: number } {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((symbol, id) => (vocab[symbol] = id));
  const merges = trainMerges(TRAINING_TEXT, FIXTURE_MERGE_COUNT);
  for (const [a, b] of merges) vocab[a + b] ??= Object.keys(vocab).length;
  const eosTokenId = Object.keys(vocab).length;
  vocab[FIXTURE_EOS_TOKEN] = eosTokenId;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const json = bpeTokenizerJson({
    special: { [FIXTURE_EOS_TOKEN]: eosTokenId },
    preTokenizer: byteLevel,
    postProcessor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    ignoreMerges: false,
    vocab,
    merges,
  });
  return { json, eosTokenId, vocabSize: eosTokenId + 1 };
}

/** Writes the fixture into a fresh temp directory (or `dir`). */
export async function writeTokenizerFixture(dir?: string): Promise<TokenizerFixture> {
  const target = dir ?? (await mkdtemp(join(tmpdir(), 'sambay-tokenizer-')));
  const { json, eosTokenId, vocabSize } = buildTokenizerJson();
  const tokenizerPath = join(target, 'tokenizer.json');
  await writeFile(tokenizerPath, JSON.stringify(json));
  await writeFile(
    join(target, 'tokenizer_config.json'),
    JSON.stringify({ eos_token: FIXTURE_EOS_TOKEN, clean_up_tokenization_spaces: false, model_max_length: 4096 }),
  );
  return { dir: target, tokenizerPath, eosTokenId, vocabSize };
}
