import { createHash } from 'node:crypto';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergesFromRanks } from './bpe-merges-from-ranks.js';
import { O200K_BASE, o200kTokens } from './o200k-ranks.js';
import { bpeTokenizerJson, bytesToUnicode } from './tokenizer-fixture.js';

/**
 * A model directory with a tokenizer of the real size, laid out as Phi-4-mini(-flash) ships it:
 * `tokenizer.json` (byte-level BPE: o200k_base's 199,998 tokens as ids 0-199997, their merges,
 * Phi-4's special tokens), `tokenizer_config.json` (special tokens, chat template),
 * `generation_config.json` (both EOS ids) and a `config.json` with only the vocabulary fields. Built
 * from the rank table in js-tiktoken, so nothing is downloaded, and cached under the OS temp
 * directory: building takes a few seconds, loading a fraction of that.
 */

/** Phi-4-mini's added tokens (ids as in its tokenizer_config.json); 199998 and 200000-200017 stay unused. */
export const PHI4_SPECIAL_TOKENS: Readonly<Record<string, number>> = {
  '<|endoftext|>': 199999,
  '<|endofprompt|>': 200018,
  '<|assistant|>': 200019,
  '<|end|>': 200020,
  '<|user|>': 200021,
  '<|system|>': 200022,
  '<|tool|>': 200023,
  '<|/tool|>': 200024,
  '<|tool_call|>': 200025,
  '<|/tool_call|>': 200026,
  '<|tool_response|>': 200027,
  '<|tag|>': 200028,
};
/** config.json's: the embedding is padded past the last special token to a multiple of 64. */
const PHI4_VOCAB_SIZE = 200064;
export const PHI4_BOS_TOKEN_ID = 199999;
/** config.json names only `<|endoftext|>`; generation_config.json adds `<|end|>`, which ends a chat turn. */
export const PHI4_CONFIG_EOS_TOKEN_ID = 199999;
const PHI4_GENERATION_EOS_TOKEN_IDS = [199999, 200020];

/** Phi-4-mini's chat template (tokenizer_config.json `chat_template`). */
const PHI4_CHAT_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and message['tools'] is not none %}" +
  "{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + '<|/tool|>' + '<|end|>' }}" +
  "{% else %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";

/**
 * o200k's pre-tokenizer regex as tiktoken defines it and o200k-based tokenizer.json files carry it
 * (Oniguruma's `(?i:...)`, which @huggingface/tokenizers rewrites for JavaScript).
 */
const O200K_SPLIT_REGEX = [
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
  '\\p{N}{1,3}',
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*',
  '\\s*[\\r\\n]+',
  '\\s+(?!\\S)',
  '\\s+',
].join('|');

/** Bump when the files written here change for the same rank table, so stale caches are not reused. */
const LAYOUT_VERSION = 1;

/** tokenizer.json as the Rust tokenizers library writes it for an o200k-based model. */
function buildO200kTokenizerJson(): object {
  const tokens = o200kTokens();
  const symbols = bytesToUnicode();
  const text = tokens.map((bytes) => Array.from(bytes, (b) => symbols[b]!).join(''));
  const vocab = Object.fromEntries(text.map((token, id) => [token, id]));
  // Two ranks with the same bytes would silently collapse into one vocab entry.
  if (Object.keys(vocab).length !== tokens.length) throw new Error('o200k_base: duplicate tokens');
  const merges = mergesFromRanks(tokens).map(([left, right]): [string, string] => [text[left]!, text[right]!]);
  return bpeTokenizerJson({
    special: PHI4_SPECIAL_TOKENS,
    // The regex splits; ByteLevel then only maps bytes to symbols (its own GPT-2 regex is off).
    preTokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: O200K_SPLIT_REGEX }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    postProcessor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    // tiktoken emits a pre-token that is itself in the table as one id before trying any merge.
    ignoreMerges: true,
    vocab,
    merges,
  });
}

/** tokenizer_config.json as Phi-4-mini ships it, less the fields no loader here reads. */
function tokenizerConfigJson(): object {
  const addedTokensDecoder = Object.fromEntries(
    Object.entries(PHI4_SPECIAL_TOKENS).map(([content, id]) => [
      String(id),
      { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
    ]),
  );
  return {
    add_bos_token: false,
    add_eos_token: false,
    added_tokens_decoder: addedTokensDecoder,
    bos_token: '<|endoftext|>',
    chat_template: PHI4_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|endoftext|>',
    model_max_length: 131072,
    pad_token: '<|endoftext|>',
    tokenizer_class: 'GPT2Tokenizer',
    unk_token: '<|endoftext|>',
  };
}

const jsonText = (value: object) => `${JSON.stringify(value)}\n`;

/**
 * Writes the three tokenizer files a Phi-4-mini checkpoint ships into `dir` (which must exist),
 * leaving its config.json alone: a random checkpoint of the real shapes gets the real tokenizer.
 */
export async function writeLargeTokenizerFiles(dir: string): Promise<void> {
  await writeFile(join(dir, 'tokenizer.json'), jsonText(buildO200kTokenizerJson()));
  await writeFile(join(dir, 'tokenizer_config.json'), jsonText(tokenizerConfigJson()));
  await writeFile(
    join(dir, 'generation_config.json'),
    jsonText({ bos_token_id: PHI4_BOS_TOKEN_ID, eos_token_id: PHI4_GENERATION_EOS_TOKEN_IDS, pad_token_id: 199999 }),
  );
}

/** config.json with only the fields a tokenizer reads, as Phi-4-mini-flash's has them. */
async function writeVocabularyConfig(dir: string): Promise<void> {
  await writeFile(
    join(dir, 'config.json'),
    jsonText({ vocab_size: PHI4_VOCAB_SIZE, bos_token_id: PHI4_BOS_TOKEN_ID, eos_token_id: PHI4_CONFIG_EOS_TOKEN_ID }),
  );
}

/**
 * The cached model directory, built first if this rank table and layout have none yet. The cache
 * key hashes the rank table itself, so a js-tiktoken upgrade that changes it gets a fresh build.
 * Concurrent callers each build into their own directory and rename it into place; a loser drops
 * its copy, so a reader never sees a half-written directory.
 */
export async function largeTokenizerDir(): Promise<string> {
  const key = createHash('sha256').update(`${LAYOUT_VERSION}\n${O200K_BASE.bpe_ranks}`).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `sambay-o200k-tokenizer-${key}`);
  const cached = await access(join(dir, 'tokenizer.json')).then(
    () => true,
    () => false,
  );
  if (cached) return dir;
  const staging = `${dir}.${process.pid}.tmp`;
  await mkdir(staging, { recursive: true });
  await writeLargeTokenizerFiles(staging);
  await writeVocabularyConfig(staging);
  try {
    await rename(staging, dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    await rm(staging, { recursive: true, force: true });
  }
  return dir;
}
