import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BYTE_BOS_ID,
  BYTE_EOS_ID,
  ByteTokenizer,
  HfTokenizer,
  loadTokenizer,
  StreamingDetokenizer,
  type Tokenizer,
  TokenizerError,
} from '@sambay/tokenizer';
import { writeTokenizerFixture } from './helpers/tokenizer-fixture.js';

const SAMPLES = [
  'hello world',
  'café crème déjà vu',
  'naïve 🙂 smile 👩‍👩‍👧 end',
  '日本語のテキスト and Ελληνικά',
  '',
  ' leading and trailing spaces  ',
  'line one\nline two\ttab',
];

const fixture = await writeTokenizerFixture();
const hf = await loadTokenizer(fixture.tokenizerPath, {
  vocabSize: 512,
  eosTokenIds: [fixture.eosTokenId],
  bosTokenId: null,
});
const bytes = new ByteTokenizer();

/** Concatenation of every push and the flush of a streaming detokenizer over ids. */
function streamed(tokenizer: Tokenizer, ids: number[]): { text: string; chunks: string[] } {
  const detokenizer = new StreamingDetokenizer(tokenizer);
  const chunks = ids.map((id) => detokenizer.push(id));
  chunks.push(detokenizer.flush());
  return { text: chunks.join(''), chunks };
}

test('byte tokenizer: ids are the UTF-8 bytes after BOS, and decode inverts encode', () => {
  assert.deepEqual(bytes.encode('Hi é'), [BYTE_BOS_ID, 72, 105, 32, 0xc3, 0xa9]);
  for (const text of SAMPLES) assert.equal(bytes.decode(bytes.encode(text)), text);
  assert.equal(bytes.encode('🙂').length, 5, 'an emoji is 4 bytes plus BOS');
  assert.equal(bytes.vocabSize, 258);
  assert.deepEqual(bytes.eosTokenIds, [BYTE_EOS_ID]);
  assert.equal(bytes.bosTokenId, BYTE_BOS_ID);
});

test('byte tokenizer: special ids give no text and invalid UTF-8 becomes U+FFFD', () => {
  assert.equal(bytes.decode([BYTE_BOS_ID, 104, 105, BYTE_EOS_ID]), 'hi');
  assert.equal(bytes.decode([0xf0, 0x9f, 104]), '\uFFFDh');
  assert.equal(bytes.decode([0xff]), '\uFFFD');
  assert.equal(bytes.decode([]), '');
});

test('HF fixture: loads with @huggingface/tokenizers and round-trips text', () => {
  assert.ok(hf instanceof HfTokenizer);
  assert.equal(hf.vocabSize, fixture.vocabSize);
  assert.deepEqual(hf.eosTokenIds, [fixture.eosTokenId]);
  for (const text of SAMPLES) assert.equal(hf.decode(hf.encode(text)), text, JSON.stringify(text));
});

test('HF fixture: merges make common words shorter than their bytes', () => {
  for (const text of ['the cat sat on the mat', 'hello world', 'the café']) {
    const ids = hf.encode(text);
    assert.ok(ids.length < new TextEncoder().encode(text).length / 2, `${text}: ${ids.length} ids`);
    assert.ok(
      ids.some((id) => id >= 256),
      'some id is a merge, not a byte',
    );
  }
});

test('HF fixture: the special token is one id and decodes to nothing', () => {
  const ids = hf.encode('the end<|endoftext|>');
  assert.equal(ids.at(-1), fixture.eosTokenId);
  assert.equal(hf.decode(ids), 'the end');
  assert.equal(hf.decode([fixture.eosTokenId]), '');
});

test('HF: EOS falls back to tokenizer_config.json eos_token when config.json names none', async () => {
  const tokenizer = await loadTokenizer(fixture.tokenizerPath, { vocabSize: 512, eosTokenIds: [], bosTokenId: null });
  assert.deepEqual(tokenizer.eosTokenIds, [fixture.eosTokenId]);
});

test('loadTokenizer: no tokenizer.json gives the byte tokenizer, with config EOS ids added', async () => {
  const tokenizer = await loadTokenizer(null, { vocabSize: 300, eosTokenIds: [257, 299], bosTokenId: 256 });
  assert.ok(tokenizer instanceof ByteTokenizer);
  assert.deepEqual(tokenizer.eosTokenIds, [257, 299]);
});

test('loadTokenizer: typed errors for a small vocab without tokenizer.json, and broken files', async () => {
  await assert.rejects(loadTokenizer(null, { vocabSize: 100, eosTokenIds: [], bosTokenId: null }), (error: unknown) => {
    assert.ok(error instanceof TokenizerError);
    assert.match(error.message, /needs a tokenizer\.json/);
    return true;
  });
  await assert.rejects(
    loadTokenizer(fixture.tokenizerPath, { vocabSize: 300, eosTokenIds: [], bosTokenId: null }),
    /vocab_size is 300/,
  );
  const dir = await mkdtemp(join(tmpdir(), 'sambay-bad-tokenizer-'));
  await writeFile(join(dir, 'tokenizer.json'), '{not json');
  await assert.rejects(
    loadTokenizer(join(dir, 'tokenizer.json'), { vocabSize: 512, eosTokenIds: [], bosTokenId: null }),
    TokenizerError,
  );
  await assert.rejects(
    loadTokenizer(join(dir, 'missing.json'), { vocabSize: 512, eosTokenIds: [], bosTokenId: null }),
    TokenizerError,
  );
});

for (const [name, tokenizer] of [
  ['byte', bytes],
  ['HF fixture', hf],
] as const) {
  test(`streaming detokenizer (${name}): pushes + flush equal the full decode`, () => {
    for (const text of SAMPLES) {
      const ids = tokenizer.encode(text);
      assert.equal(streamed(tokenizer, ids).text, tokenizer.decode(ids), JSON.stringify(text));
    }
    // A special id in the middle (held, then skipped) and a character split around it.
    const ids = [...tokenizer.encode('ça'), tokenizer.eosTokenIds[0]!, ...tokenizer.encode('🙂 là')];
    assert.equal(streamed(tokenizer, ids).text, tokenizer.decode(ids));
  });

  test(`streaming detokenizer (${name}): never emits half a character`, () => {
    // 'à' and the emoji family are split over several tokens in both tokenizers.
    const ids = tokenizer.encode('déjà 👩‍👩‍👧 vu');
    const { chunks } = streamed(tokenizer, ids);
    assert.ok(
      chunks.some((chunk) => chunk === ''),
      'some token only starts a character',
    );
    for (const chunk of chunks) assert.ok(!chunk.includes('\uFFFD'), JSON.stringify(chunk));
  });
}

test('streaming detokenizer: a genuinely invalid byte sequence still matches decode, via flush', () => {
  const ids = [104, 0xe2, 0x82, 105, 0xf0, 0x9f];
  const { text, chunks } = streamed(bytes, ids);
  assert.equal(text, bytes.decode(ids));
  assert.equal(chunks.at(-1), '\uFFFD', 'the unfinished emoji is only released by flush');
});

test('streaming detokenizer: replaying emitted tokens rebuilds the state of an uninterrupted stream', () => {
  const ids = bytes.encode('reprise: ünïcödé 🙂!');
  for (let cut = 0; cut <= ids.length; cut++) {
    const whole = new StreamingDetokenizer(bytes);
    const wholeChunks = ids.map((id) => whole.push(id));
    const resumed = new StreamingDetokenizer(bytes);
    ids.slice(0, cut).forEach((id) => resumed.push(id));
    assert.deepEqual(
      ids.slice(cut).map((id) => resumed.push(id)),
      wholeChunks.slice(cut),
    );
  }
});
