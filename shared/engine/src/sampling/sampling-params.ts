/** How the next token is drawn. temperature 0 means greedy (argmax). */
export interface SamplingParams {
  temperature: number;
  /** 0 disables top-k. */
  topK: number;
  /** 1 disables nucleus sampling. */
  topP: number;
  seed: number;
}
