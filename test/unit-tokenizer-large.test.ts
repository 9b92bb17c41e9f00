// A tokenizer of the real size: Phi-4-mini's layout (o200k byte-level BPE, 200K entries, Phi-4's
// special tokens, generation_config.json EOS ids), built here from js-tiktoken's o200k_base table
// (helpers/large-tokenizer.ts) and checked id for id against js-tiktoken's own encoder.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  HfTokenizer,
  loadModelTokenizer,
  readGenerationConfig,
  StreamingDetokenizer,
  TokenizerError,
  withGenerationConfig,
} from '@sambay/tokenizer';
import {
  largeTokenizerDir,
  PHI4_BOS_TOKEN_ID,
  PHI4_CONFIG_EOS_TOKEN_ID,
  PHI4_SPECIAL_TOKENS,
} from './helpers/large-tokenizer.js';
import { mixedText } from './helpers/mixed-text.js';
import { o200kEncoder } from './helpers/o200k-ranks.js';

/** One of each kind of text, short enough that a mismatch message stays readable. */
const SAMPLES = {
  english: "The quick brown fox jumps over the lazy dog. It's what THEY'RE saying; we don't know.",
  code: 'export function f(xs: number[]): number {\n\treturn xs.reduce((a, b) => a + b, 0); // sum\n}\n',
  cjk: '日本語のテキストと中文测试，还有한국어 문장。',
  emoji: 'family 👩‍👩‍👧, thumbs 👍🏽, flag 🇫🇷, melting 🫠, crab 🦀',
  whitespace: '  leading\n\n\n\ttabs\t\t and    runs   \r\n  trailing   ',
  digits: '3.14159265 and 1234567890, v2.0.1',
  scripts: 'café Straße Ελληνικά привет мир مرحبا नमस्ते',
};
const MIXED = mixedText(48 * 1024);

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

const dir = await largeTokenizerDir();
const tokenizer = await loadModelTokenizer(dir);
const reference = o200kEncoder();

/** Concatenation of every push and the flush, and the chunks themselves. */
function streamed(ids: number[]): { text: string; chunks: string[] } {
  const detokenizer = new StreamingDetokenizer(tokenizer);
  const chunks = ids.map((id) => detokenizer.push(id));
  chunks.push(detokenizer.flush());
  return { text: chunks.join(''), chunks };
}

/** A model directory holding only the given JSON files. */
async function modelDir(files: Record<string, unknown>): Promise<string> {
  const target = await mkdtemp(join(tmpdir(), 'sambay-generation-config-'));
  dirs.push(target);
  for (const [name, content] of Object.entries(files))
    await writeFile(join(target, name), typeof content === 'string' ? content : JSON.stringify(content));
  return target;
}

test('loadModelTokenizer: the built tokenizer.json holds o200k and the Phi-4 special tokens', () => {
  assert.ok(tokenizer instanceof HfTokenizer);
  // Ids 0-199997 are o200k's tokens; the last added token is <|tag|> at 200028.
  assert.equal(tokenizer.vocabSize, 200029);
  assert.equal(tokenizer.bosTokenId, PHI4_BOS_TOKEN_ID);
});

for (const [kind, text] of Object.entries(SAMPLES)) {
  test(`encode (${kind}): the same ids as js-tiktoken's o200k_base, and decode gives the text back`, () => {
    const ids = tokenizer.encode(text);
    assert.deepEqual(ids, reference.encode(text));
    assert.equal(tokenizer.decode(ids), text);
  });
}

test('encode: 48 KiB of mixed text gives the same ids as js-tiktoken, using the far end of the vocabulary', () => {
  const ids = tokenizer.encode(MIXED);
  assert.deepEqual(ids, reference.encode(MIXED));
  assert.ok(
    ids.some((id) => id >= 150_000),
    'ids past 150K appear, so the whole table was loaded',
  );
  assert.ok(ids.length < MIXED.length / 2, `${ids.length} ids for ${MIXED.length} characters: merges apply`);
  assert.equal(tokenizer.decode(ids), MIXED);
});

test('special tokens: each encodes to its one id, decodes to nothing, and splits the text around it', () => {
  for (const [content, id] of Object.entries(PHI4_SPECIAL_TOKENS)) {
    assert.deepEqual(tokenizer.encode(content), [id], content);
    assert.equal(tokenizer.decode([id]), '', content);
  }
  const prompt = '<|system|>You are Phi.<|end|><|user|>What is 2+2?<|end|><|assistant|>';
  const S = PHI4_SPECIAL_TOKENS;
  assert.deepEqual(tokenizer.encode(prompt), [
    S['<|system|>'],
    ...reference.encode('You are Phi.'),
    S['<|end|>'],
    S['<|user|>'],
    ...reference.encode('What is 2+2?'),
    S['<|end|>'],
    S['<|assistant|>'],
  ]);
  assert.equal(tokenizer.decode(tokenizer.encode(prompt)), 'You are Phi.What is 2+2?');
});

test('streaming detokenizer: characters split across tokens are held until complete, and the stream adds up to decode', () => {
  const ids = tokenizer.encode(MIXED);
  const split = ids.filter((id) => tokenizer.decode([id]).includes('\uFFFD'));
  assert.ok(split.length > 100, `${split.length} tokens hold part of a character`);
  const { text, chunks } = streamed(ids);
  assert.equal(text, MIXED);
  assert.ok(
    chunks.some((chunk) => chunk === ''),
    'some token only starts a character',
  );
  for (const chunk of chunks) assert.ok(!chunk.includes('\uFFFD'), JSON.stringify(chunk));
});

test('streaming detokenizer: an EOS id mid-stream and a half character at the end match decode', () => {
  const melting = tokenizer.encode('🫠');
  assert.ok(melting.length > 1, 'the emoji takes several tokens');
  const ids = [...tokenizer.encode('ok '), ...melting, PHI4_SPECIAL_TOKENS['<|end|>']!, ...melting.slice(0, -1)];
  const { text, chunks } = streamed(ids);
  assert.equal(text, tokenizer.decode(ids));
  assert.equal(text, 'ok 🫠\uFFFD');
  assert.equal(chunks.at(-1), '\uFFFD', 'the unfinished emoji is only released by flush');
});

test("generation_config.json: its EOS ids are added to config.json's, config.json's first", async () => {
  // config.json names only <|endoftext|>; <|end|> comes from generation_config.json.
  assert.deepEqual(tokenizer.eosTokenIds, [PHI4_CONFIG_EOS_TOKEN_ID, PHI4_SPECIAL_TOKENS['<|end|>']]);
  const target = await modelDir({
    'config.json': { vocab_size: 300, eos_token_id: [299, 257] },
    'generation_config.json': { eos_token_id: [257, 298], bos_token_id: 256, temperature: 0.6 },
  });
  assert.deepEqual(await readGenerationConfig(target), { eosTokenIds: [257, 298], bosTokenId: 256 });
  assert.deepEqual((await loadModelTokenizer(target)).eosTokenIds, [257, 299, 298]);
  const single = await modelDir({ 'generation_config.json': { eos_token_id: 7 } });
  assert.deepEqual(await readGenerationConfig(single), { eosTokenIds: [7], bosTokenId: null });
});

test("generation_config.json: config.json's BOS wins; an absent file changes nothing", async () => {
  const config = { vocabSize: 300, eosTokenIds: [257], bosTokenId: null };
  assert.equal(withGenerationConfig(config, { eosTokenIds: [], bosTokenId: 9 }).bosTokenId, 9);
  assert.equal(withGenerationConfig({ ...config, bosTokenId: 5 }, { eosTokenIds: [], bosTokenId: 9 }).bosTokenId, 5);
  assert.equal(withGenerationConfig(config, null), config);
  const target = await modelDir({ 'config.json': { vocab_size: 300, eos_token_id: 299 } });
  assert.equal(await readGenerationConfig(target), null);
  assert.deepEqual((await loadModelTokenizer(target)).eosTokenIds, [257, 299]);
});

test('generation_config.json: bad ids are a TokenizerError naming the file and the field', async () => {
  const cases: [generation: unknown, field: string][] = [
    [{ eos_token_id: 'end' }, 'eos_token_id'],
    [{ eos_token_id: [199999, -1] }, 'eos_token_id'],
    [{ eos_token_id: 2.5 }, 'eos_token_id'],
    [{ bos_token_id: '1' }, 'bos_token_id'],
  ];
  for (const [generation, field] of cases) {
    const target = await modelDir({ 'config.json': { vocab_size: 300 }, 'generation_config.json': generation });
    for (const attempt of [readGenerationConfig(target), loadModelTokenizer(target)]) {
      await assert.rejects(attempt, (error: unknown) => {
        assert.ok(error instanceof TokenizerError);
        assert.equal(error.code, 'invalid_tokenizer_config');
        assert.equal(error.field, field);
        assert.match(error.message, new RegExp(`^generation_config\\.json: \`${field}\``));
        return true;
      });
    }
  }
  const broken = await modelDir({ 'config.json': { vocab_size: 300 }, 'generation_config.json': '{"eos_token_id": [' });
  await assert.rejects(loadModelTokenizer(broken), (error: unknown) => {
    assert.ok(error instanceof TokenizerError);
    assert.match(error.message, /generation_config\.json: not valid JSON/);
    return true;
  });
});
