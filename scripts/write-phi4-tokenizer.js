#!/usr/bin/env node
// Writes the tokenizer files of a Phi-4-mini(-flash) checkpoint into a model directory:
// tokenizer.json (o200k byte-level BPE with Phi-4's special tokens, 200,029 ids), tokenizer_config.json
// (special tokens, chat template) and generation_config.json (EOS ids 199999 and 200020), built from
// js-tiktoken's o200k_base table (test/helpers/large-tokenizer.ts; docs/tokenizer.md). The
// directory's config.json is left alone; its vocab_size must be at least 200029 (Phi-4's is 200064).
//   node scripts/write-phi4-tokenizer.js --out DIR
// Needs the build (npm run build).
import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { writeLargeTokenizerFiles } from '../test/dist/helpers/large-tokenizer.js';

const { values: args } = parseArgs({ options: { out: { type: 'string' } } });
if (!args.out) {
  process.stderr.write('usage: node scripts/write-phi4-tokenizer.js --out DIR\n');
  process.exit(2);
}
await mkdir(args.out, { recursive: true });
await writeLargeTokenizerFiles(args.out);
process.stdout.write(`${args.out}: tokenizer.json, tokenizer_config.json, generation_config.json\n`);
