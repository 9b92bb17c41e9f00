/** Tokenizers: the built-in byte-level one, Hugging Face `tokenizer.json`, streaming detokenization. */
export { BYTE_BOS_ID, BYTE_EOS_ID, ByteTokenizer } from './byte-tokenizer.js';
export { HfTokenizer } from './hf-tokenizer.js';
export { loadTokenizer } from './load-tokenizer.js';
export { StreamingDetokenizer } from './streaming-detokenizer.js';
export type { Tokenizer } from './tokenizer.js';
