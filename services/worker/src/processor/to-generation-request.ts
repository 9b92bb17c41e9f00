import type { GenerationRequest } from '@sambay/engine';
import type { JobRequest } from '@sambay/protocol';

/** The HTTP-shaped job request (already validated by the API) as the scheduler takes it. */
export function toGenerationRequest(id: string, request: JobRequest, resumeTokens: number[]): GenerationRequest {
  return {
    id,
    prompt: request.prompt,
    maxTokens: request.max_tokens,
    sampling: { temperature: request.temperature, topK: request.top_k, topP: request.top_p, seed: request.seed },
    stop: request.stop,
    ignoreEos: request.ignore_eos === true,
    ...(resumeTokens.length > 0 ? { resumeTokens } : {}),
  };
}
