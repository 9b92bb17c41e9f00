#!/usr/bin/env node
// `npm run bench:tokenizer`: the tokenizer at the real model's size. Builds Phi-4-mini's layout
// (o200k byte-level BPE, 200K entries, test/helpers/large-tokenizer.ts) from js-tiktoken's rank
// table, then measures, through @sambay/tokenizer (tokenizer.json via @huggingface/tokenizers):
// the build, loading tokenizer.json, encode throughput on seeded mixed text (test/helpers/mixed-text.ts)
// and on its ASCII part alone, decode throughput and the per-token cost of streaming
// detokenization (StreamingDetokenizer, one push per token); js-tiktoken's
// own o200k_base encoder runs the same measurements in the same run as the baseline. Prints a
// table; `--json FILE` writes the numbers. Single-threaded: every step runs on the main thread.
//   npm run bench:tokenizer -- [--kib 256] [--repeats 5] [--json FILE]
// Needs the build (npm run build).
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModelTokenizer, StreamingDetokenizer } from '@sambay/tokenizer';
import { largeTokenizerDir, writeLargeTokenizerFiles } from '../test/dist/helpers/large-tokenizer.js';
import { mixedText } from '../test/dist/helpers/mixed-text.js';
import { o200kEncoder } from '../test/dist/helpers/o200k-ranks.js';

const { values: args } = parseArgs({
  options: {
    kib: { type: 'string', default: '256' },
    repeats: { type: 'string', default: '5' },
    json: { type: 'string' },
  },
});
const TEXT_BYTES = Number(args.kib) * 1024;
const REPEATS = Number(args.repeats);
/** Loading tokenizer.json takes seconds; fewer runs of it keep the whole benchmark near a minute. */
const LOAD_REPEATS = Math.min(REPEATS, 3);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/** Median milliseconds of `repeats` runs of `run`, after one unmeasured run (JIT, caches). */
async function timeMs(run, repeats = REPEATS) {
  await run();
  const times = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return median(times);
}

/** Building the four files from the rank table into a fresh directory, as a cold cache does. */
async function measureBuild() {
  const dir = await mkdtemp(join(tmpdir(), 'sambay-bench-tokenizer-'));
  try {
    const start = performance.now();
    await writeLargeTokenizerFiles(dir);
    const ms = performance.now() - start;
    return { ms, tokenizerJsonBytes: (await stat(join(dir, 'tokenizer.json'))).size };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** js-tiktoken's encoder behind the Tokenizer interface, so the same StreamingDetokenizer runs on it. */
function baselineTokenizer(encoder) {
  return {
    encode: (text) => encoder.encode(text),
    decode: (ids) => encoder.decode(ids),
    vocabSize: 200019, // o200k_base: ranks 0-199997, <|endoftext|> 199999, <|endofprompt|> 200018
    eosTokenIds: [199999],
    bosTokenId: null,
  };
}

/**
 * Encode throughput over `texts`, one run each: the first warms up, the rest are measured. Each run
 * gets new text, as a long-running service does, so @huggingface/tokenizers' BPE cache holds the
 * common words it has seen before but not the whole measured text.
 */
function measureEncode(tokenizer, texts) {
  const runs = texts.map((text) => {
    const start = performance.now();
    const ids = tokenizer.encode(text);
    const seconds = (performance.now() - start) / 1000;
    return { ids, mbPerS: Buffer.byteLength(text) / 1e6 / seconds, tokensPerS: ids.length / seconds };
  });
  const measured = runs.slice(1);
  return {
    ids: runs.map((run) => run.ids),
    mbPerS: median(measured.map((run) => run.mbPerS)),
    tokensPerS: median(measured.map((run) => run.tokensPerS)),
  };
}

/**
 * Encode (mixed text, and the same text with everything but ASCII removed: prose and code, where
 * most pieces are whole tokens), decode and streaming detokenization by one tokenizer; decoding
 * uses the first measured mixed text's ids.
 */
async function measureTokenizer(name, tokenizer, texts, loadMs) {
  const encode = measureEncode(tokenizer, texts);
  const ascii = measureEncode(tokenizer, texts.map(asciiOnly));
  const ids = encode.ids[1];
  const bytes = Buffer.byteLength(texts[1]);
  const decodeMs = await timeMs(() => tokenizer.decode(ids));
  const streamMs = await timeMs(() => {
    const detokenizer = new StreamingDetokenizer(tokenizer);
    for (const id of ids) detokenizer.push(id);
    detokenizer.flush();
  });
  process.stderr.write(`${name}: encode ${encode.mbPerS.toFixed(2)} MB/s\n`);
  return {
    name,
    ids: [...encode.ids, ...ascii.ids],
    load_ms: loadMs,
    encode_mb_per_s: encode.mbPerS,
    encode_tokens_per_s: encode.tokensPerS,
    ascii_encode_mb_per_s: ascii.mbPerS,
    ascii_encode_tokens_per_s: ascii.tokensPerS,
    decode_mb_per_s: bytes / 1e6 / (decodeMs / 1000),
    decode_tokens_per_s: ids.length / (decodeMs / 1000),
    stream_us_per_token: (streamMs * 1000) / ids.length,
  };
}

const asciiOnly = (text) => text.replace(/\P{ASCII}/gu, '');
const sameIds = (a, b) => a.length === b.length && a.every((id, i) => id === b[i]);

function table(ours, baseline) {
  const rows = [
    ['load (ms)', 'load_ms', 0],
    ['encode, mixed (MB/s)', 'encode_mb_per_s', 2],
    ['encode, mixed (tokens/s)', 'encode_tokens_per_s', 0],
    ['encode, ASCII only (MB/s)', 'ascii_encode_mb_per_s', 2],
    ['encode, ASCII only (tokens/s)', 'ascii_encode_tokens_per_s', 0],
    ['decode (MB/s)', 'decode_mb_per_s', 1],
    ['decode (tokens/s)', 'decode_tokens_per_s', 0],
    ['streaming detokenization (µs/token)', 'stream_us_per_token', 2],
  ].map(([label, key, digits]) => [
    label,
    ours[key].toFixed(digits),
    baseline[key].toFixed(digits),
    `${(ours[key] / baseline[key]).toFixed(2)}x`,
  ]);
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const header = ['', '@sambay/tokenizer (tokenizer.json)', 'js-tiktoken o200k_base (baseline)', 'ours / baseline'];
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

async function main() {
  const build = await measureBuild();
  const dir = await largeTokenizerDir();
  let tokenizer;
  const loadMs = await timeMs(async () => {
    tokenizer = await loadModelTokenizer(dir);
  }, LOAD_REPEATS);
  let encoder;
  const baselineLoadMs = await timeMs(() => {
    encoder = o200kEncoder();
  }, LOAD_REPEATS);
  // Seed 0 is the warm-up text; seeds 1..REPEATS are measured.
  const texts = Array.from({ length: REPEATS + 1 }, (_, seed) => mixedText(TEXT_BYTES, seed));
  const ours = await measureTokenizer('@sambay/tokenizer', tokenizer, texts, loadMs);
  const baseline = await measureTokenizer('js-tiktoken', baselineTokenizer(encoder), texts, baselineLoadMs);
  const idsMatch = ours.ids.every((ids, t) => sameIds(ids, baseline.ids[t]));
  const tokens = ours.ids[1].length;
  process.stdout.write(
    `# tokenizer benchmark: ${args.kib} KiB of mixed text per run (${tokens} tokens in the first measured), ` +
      `median of ${REPEATS} runs (load: ${LOAD_REPEATS}), node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ` +
      `load average ${loadavg()[0].toFixed(1)} at the end\n\n` +
      `building tokenizer.json (${(build.tokenizerJsonBytes / 2 ** 20).toFixed(1)} MiB, ${tokenizer.vocabSize} ids) ` +
      `and its companions from the o200k_base ranks: ${(build.ms / 1000).toFixed(2)} s\n` +
      `ids identical to js-tiktoken's: ${idsMatch ? 'yes' : 'NO'}\n\n${table(ours, baseline)}\n`,
  );
  if (args.json) {
    const strip = ({ ids: _ids, ...numbers }) => numbers;
    const report = {
      text_bytes: Buffer.byteLength(texts[1]),
      tokens,
      repeats: REPEATS,
      build_ms: build.ms,
      tokenizer_json_bytes: build.tokenizerJsonBytes,
      ids_match: idsMatch,
      results: [strip(ours), strip(baseline)],
    };
    await writeFile(args.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  if (!idsMatch) process.exitCode = 1;
}

await main();
