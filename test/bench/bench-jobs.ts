// The jobs the service benchmark runs both ways (in-process and through the service), and what a
// run of them measured.
import type { GenerationRequest } from '@sambay/engine';

export interface JobSpec {
  id: string;
  prompt: string;
  maxTokens: number;
  seed: number;
}

/** One run of a set of jobs submitted together: per job its first-token time and tokens. */
export interface RunResult {
  wallMs: number;
  tokens: number;
  /** Every token over the time from submission to the last token. */
  tokensPerSecond: number;
  ttftMs: number[]; // per job, from submission
  /** Per job, ms per token after its first: the streaming rate, without the per-job latencies. */
  tpotMs: number[];
  tokenIds: Map<string, number[]>;
}

/** When a job's first and last tokens arrived, in ms from the run's start. */
export interface TokenTimes {
  first: number;
  last: number;
}

export const now = () => performance.now();
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
export const SAMPLING = { temperature: 0.8, top_p: 1, top_k: 0 };

export function jobs(count: number, maxTokens: number, tag: string): JobSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${tag}-${i}`,
    prompt: `Job ${i}: the quick brown fox jumps over the lazy dog, and then it writes a story about`,
    maxTokens,
    seed: 1000 + i,
  }));
}

export const engineRequest = (j: JobSpec): GenerationRequest => ({
  id: j.id,
  prompt: j.prompt,
  maxTokens: j.maxTokens,
  sampling: { temperature: SAMPLING.temperature, topP: SAMPLING.top_p, topK: SAMPLING.top_k, seed: j.seed },
  stop: [],
  ignoreEos: true,
});

export function summarize(specs: JobSpec[], times: Map<string, TokenTimes>, ids: Map<string, number[]>): RunResult {
  const tokens = [...ids.values()].reduce((sum, t) => sum + t.length, 0);
  const spans = specs.map((j) => times.get(j.id) ?? { first: NaN, last: NaN });
  const wallMs = Math.max(...spans.map((t) => t.last));
  return {
    wallMs,
    tokens,
    tokensPerSecond: tokens / (wallMs / 1000),
    ttftMs: spans.map((t) => t.first),
    tpotMs: specs.map((j, i) => (spans[i]!.last - spans[i]!.first) / ((ids.get(j.id)?.length ?? 0) - 1)),
    tokenIds: ids,
  };
}

export const sameTokens = (a: RunResult, b: RunResult) =>
  [...a.tokenIds.values()].every((ids, i) => JSON.stringify(ids) === JSON.stringify([...b.tokenIds.values()][i]));
