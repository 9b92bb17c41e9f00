import type { GenerationRequest } from '@sambay/shared/generation/generation-request';
import type { JobRequest } from '@sambay/shared/queue/job-data';

/** The HTTP-shaped job request (already validated by the API) as the scheduler takes it. */
export function toGenerationRequest(id: string, request: JobRequest, resumeTokens: number[]): GenerationRequest {
  return {
    id,
    prompt: request.prompt,
    maxTokens: request.max_tokens,
    sampling: { temperature: request.temperature, topK: request.top_k, topP: request.top_p, seed: request.seed },
    stop: request.stop,
    ...(resumeTokens.length > 0 ? { resumeTokens } : {}),
  };
}
