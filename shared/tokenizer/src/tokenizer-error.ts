/**
 * A tokenizer that cannot be loaded: a file that is missing, unreadable or not a tokenizer, or
 * config.json fields it needs that are malformed. `field` names the config.json field at fault.
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
