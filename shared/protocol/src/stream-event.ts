import type { GenerateJobResult, JobStatus } from './job-data.js';

/**
 * One entry of a job's Redis Stream. The stream is the single source of truth for streaming:
 * SSE replays it from any entry id, and a resumed attempt reads the token ids back from it.
 */
export type StreamEvent =
  | { type: 'status'; status: JobStatus }
  /** `index` is the position of the first token of this chunk in the generated sequence. */
  | { type: 'tokens'; index: number; token_ids: number[]; text: string }
  | { type: 'progress'; generated_tokens: number; max_tokens: number; tokens_per_second: number }
  | { type: 'done'; status: 'completed' | 'cancelled'; result: GenerateJobResult }
  | { type: 'error'; message: string };

/** Streams store one field, `e`, holding the JSON event. */
export const STREAM_FIELD = 'e';

export const encodeStreamEvent = (event: StreamEvent): [string, string] => [STREAM_FIELD, JSON.stringify(event)];

export function decodeStreamEvent(fields: string[]): StreamEvent {
  const at = fields.indexOf(STREAM_FIELD);
  return JSON.parse(fields[at + 1]!) as StreamEvent;
}

export const isTerminal = (event: StreamEvent) => event.type === 'done' || event.type === 'error';
