/**
 * A tokenizer that cannot be loaded: a file that is missing, unreadable or not a tokenizer, or
 * config.json / generation_config.json fields it needs that are malformed
 * (`invalid_tokenizer_config`; the message starts with the file's name, `field` names the field).
 */
export class TokenizerError extends Error {
  constructor(
    readonly code: 'invalid_tokenizer' | 'invalid_tokenizer_config',
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
