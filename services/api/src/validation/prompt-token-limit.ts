import { loadModelTokenizer, type Tokenizer } from '@sambay/tokenizer';
import { ApiError } from '../errors/api-error.js';

/** A prompt as the client sent it, with the request field that holds it (`prompt`, `jobs[2].prompt`). */
export interface PromptField {
  param: string;
  text: string;
}

/** How a route reports an invalid field: the native API answers 422, the OpenAI routes 400. */
export type InvalidField = (param: string, message: string) => ApiError;

/**
 * MAX_PROMPT_TOKENS: prompts are limited in tokens, the unit prefill and state cost, counted with the
 * model directory's own tokenizer (the one the worker uses); the character limit only bounds the body.
 * The tokenizer loads on first use, so an API started before its model directory was written still
 * answers health checks; a failed load is retried by the next request.
 */
export class PromptTokenLimit {
  private tokenizer: Promise<Tokenizer> | null = null;

  constructor(
    private readonly modelDir: string,
    readonly maxTokens: number,
  ) {}

  /**
   * Throws `invalid` (422 by default) naming the first prompt over the limit and its count, or 503
   * when the tokenizer cannot load.
   */
  async check(
    prompts: readonly PromptField[],
    invalid: InvalidField = (param, message) => ApiError.invalidField(param, message),
  ): Promise<void> {
    const tokenizer = await this.load();
    for (const { param, text } of prompts) {
      const count = tokenizer.encode(text).length;
      if (count > this.maxTokens) {
        throw invalid(param, `\`${param}\` is ${count} tokens long; at most ${this.maxTokens} are accepted`);
      }
    }
  }

  private load(): Promise<Tokenizer> {
    this.tokenizer ??= loadModelTokenizer(this.modelDir).catch((error: unknown) => {
      this.tokenizer = null;
      const reason = error instanceof Error ? error.message : String(error);
      throw ApiError.unavailable(`the model's tokenizer cannot be loaded: ${reason}`, 'tokenizer_unavailable');
    });
    return this.tokenizer;
  }
}
