import { readFile } from 'node:fs/promises';
import { TokenizerError } from './tokenizer-error.js';

/** Parsed JSON object of `path`; null when an optional file is absent. */
export async function readJson(path: string, required: boolean): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new TokenizerError('invalid_tokenizer', `${path}: cannot read: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TokenizerError('invalid_tokenizer', `${path}: not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TokenizerError('invalid_tokenizer', `${path}: expected a JSON object`);
  }
  return parsed as Record<string, unknown>;
}
