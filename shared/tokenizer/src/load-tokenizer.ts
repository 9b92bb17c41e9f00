import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BYTE_VOCAB_SIZE, ByteTokenizer } from './byte-tokenizer.js';
import { readGenerationConfig, withGenerationConfig } from './generation-config.js';
import { HfTokenizer } from './hf-tokenizer.js';
import { readJson } from './read-json.js';
import { tokenizerModelConfig, type TokenizerModelConfig } from './tokenizer-config.js';
import { TokenizerError } from './tokenizer-error.js';
import type { Tokenizer } from './tokenizer.js';

/**
 * The model's tokenizer: `tokenizer.json` when the model directory has one (with the
 * `tokenizer_config.json` beside it, if any), else the built-in byte tokenizer, which only a model
 * whose vocabulary covers its 258 ids can use.
 */
export async function loadTokenizer(tokenizerPath: string | null, config: TokenizerModelConfig): Promise<Tokenizer> {
  if (tokenizerPath === null) return byteTokenizerFor(config);
  const tokenizerJson = await readJson(tokenizerPath, true);
  const tokenizerConfig = (await readJson(join(dirname(tokenizerPath), 'tokenizer_config.json'), false)) ?? {};
  let tokenizer: HfTokenizer;
  try {
    tokenizer = new HfTokenizer(tokenizerJson!, tokenizerConfig, config);
  } catch (error) {
    throw new TokenizerError(
      'invalid_tokenizer',
      `${tokenizerPath}: not a tokenizer @huggingface/tokenizers can load: ${(error as Error).message}`,
    );
  }
  // A token id past the embedding table would crash the engine mid-generation; refuse it here.
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new TokenizerError(
      'invalid_tokenizer',
      `${tokenizerPath}: the tokenizer has ids up to ${tokenizer.vocabSize - 1} but config.json vocab_size is ${config.vocabSize}`,
    );
  }
  return tokenizer;
}

function byteTokenizerFor(config: TokenizerModelConfig): ByteTokenizer {
  if (config.vocabSize < BYTE_VOCAB_SIZE) {
    throw new TokenizerError(
      'invalid_tokenizer',
      `the model directory needs a tokenizer.json: without one the built-in byte tokenizer is used, ` +
        `which needs vocab_size >= ${BYTE_VOCAB_SIZE} but config.json has ${config.vocabSize}`,
    );
  }
  return new ByteTokenizer({ extraEosTokenIds: config.eosTokenIds });
}

/**
 * The tokenizer of a model directory, from its config.json, generation_config.json (EOS ids) and
 * tokenizer files alone: what the API needs to count a prompt's tokens without loading the model.
 */
export async function loadModelTokenizer(modelDir: string): Promise<Tokenizer> {
  const config = withGenerationConfig(
    tokenizerModelConfig((await readJson(join(modelDir, 'config.json'), true))!),
    await readGenerationConfig(modelDir),
  );
  const tokenizerPath = join(modelDir, 'tokenizer.json');
  const present = await access(tokenizerPath).then(
    () => true,
    () => false,
  );
  return loadTokenizer(present ? tokenizerPath : null, config);
}
