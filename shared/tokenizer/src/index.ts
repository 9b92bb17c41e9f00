/**
 * @sambay/tokenizer: text <-> token ids for a model directory. The built-in byte-level tokenizer,
 * Hugging Face `tokenizer.json`, `generation_config.json`'s EOS ids, streaming detokenization; used
 * by the engine and by the API, which counts prompt limits in tokens.
 */
export { BYTE_BOS_ID, BYTE_EOS_ID, ByteTokenizer } from './byte-tokenizer.js';
export { readGenerationConfig, withGenerationConfig, type GenerationConfig } from './generation-config.js';
export { HfTokenizer } from './hf-tokenizer.js';
export { loadModelTokenizer, loadTokenizer } from './load-tokenizer.js';
export { StreamingDetokenizer } from './streaming-detokenizer.js';
export { tokenizerModelConfig, type TokenizerModelConfig } from './tokenizer-config.js';
export { TokenizerError } from './tokenizer-error.js';
export type { Tokenizer } from './tokenizer.js';
