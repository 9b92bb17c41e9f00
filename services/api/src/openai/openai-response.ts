import { randomUUID } from 'node:crypto';
import type { FinishReason, Usage } from '@sambay/protocol';
import type { OpenAiEndpoint } from './openai-request.js';

/**
 * OpenAI's finish reasons: an EOS and a stop string are both `stop`. A job cancelled from elsewhere
 * (POST /v1/jobs/:id/cancel, a batch cancel) ends with `abort`, vLLM's name, since OpenAI has none.
 */
export type OpenAiFinishReason = 'stop' | 'length' | 'abort';

export function openAiFinishReason(reason: FinishReason): OpenAiFinishReason {
  if (reason === 'length') return 'length';
  return reason === 'cancelled' ? 'abort' : 'stop';
}

/** What every response and chunk of one request repeats. */
export interface CompletionMeta {
  id: string;
  endpoint: OpenAiEndpoint;
  /** Unix seconds. */
  created: number;
  model: string;
  /** Choices per prompt: choices [k·n, (k+1)·n) share prompt k, whose tokens usage counts once. */
  n: number;
}

export const newCompletionId = (endpoint: OpenAiEndpoint): string =>
  `${endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;

/** One choice's ending, from its job's result. */
export interface ChoiceOutcome {
  text: string;
  finishReason: FinishReason;
  /** Null for a job cancelled before a worker tokenized its prompt. */
  usage: Usage | null;
}

/** Usage of the whole request: each prompt counted once (as OpenAI does for n > 1), completions summed. */
export function totalUsage(n: number, usages: (Usage | null)[]): Usage {
  let prompt = 0;
  let completion = 0;
  usages.forEach((usage, i) => {
    if (i % n === 0) prompt += usage?.prompt_tokens ?? 0;
    completion += usage?.completion_tokens ?? 0;
  });
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

const header = (meta: CompletionMeta, object: string) => ({
  id: meta.id,
  object,
  created: meta.created,
  model: meta.model,
  system_fingerprint: null,
});

/** The non-streaming response: `chat.completion` or `text_completion`. */
export function completionBody(meta: CompletionMeta, outcomes: ChoiceOutcome[]) {
  const usage = totalUsage(
    meta.n,
    outcomes.map((o) => o.usage),
  );
  if (meta.endpoint === 'chat') {
    return {
      ...header(meta, 'chat.completion'),
      choices: outcomes.map((o, index) => ({
        index,
        message: { role: 'assistant', content: o.text, refusal: null },
        logprobs: null,
        finish_reason: openAiFinishReason(o.finishReason),
      })),
      usage,
    };
  }
  return {
    ...header(meta, 'text_completion'),
    choices: outcomes.map((o, index) => ({
      index,
      text: o.text,
      logprobs: null,
      finish_reason: openAiFinishReason(o.finishReason),
    })),
    usage,
  };
}

/** What one streamed chunk says about one choice: the role (chat's first chunk), text, or the ending. */
export type ChunkDelta = { role: 'assistant' } | { text: string } | { finishReason: FinishReason };

/**
 * One streamed chunk, `chat.completion.chunk` (with `delta`) or `text_completion`. With
 * include_usage every chunk carries `usage: null` and the last one, with no choices, the total.
 */
export function chunkBody(meta: CompletionMeta, index: number, delta: ChunkDelta, includeUsage: boolean) {
  const finish = 'finishReason' in delta ? openAiFinishReason(delta.finishReason) : null;
  const usage = includeUsage ? { usage: null } : {};
  if (meta.endpoint === 'chat') {
    const content =
      'role' in delta ? { role: 'assistant', content: '' } : 'text' in delta ? { content: delta.text } : {};
    return {
      ...header(meta, 'chat.completion.chunk'),
      choices: [{ index, delta: content, logprobs: null, finish_reason: finish }],
      ...usage,
    };
  }
  const text = 'text' in delta ? delta.text : '';
  return {
    ...header(meta, 'text_completion'),
    choices: [{ index, text, logprobs: null, finish_reason: finish }],
    ...usage,
  };
}

export function usageChunkBody(meta: CompletionMeta, usage: Usage) {
  return {
    ...header(meta, meta.endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion'),
    choices: [],
    usage,
  };
}
