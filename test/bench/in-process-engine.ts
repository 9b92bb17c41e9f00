// The engine in-process for the service benchmark: the jobs as the worker's engine thread runs them,
// and a long prompt admitted while sequences decode.
import { loadScheduler, type GenerationEvent, type GenerationRequest } from '@sambay/engine';
import {
  engineRequest,
  jobs,
  median,
  now,
  summarize,
  type JobSpec,
  type RunResult,
  type TokenTimes,
} from './bench-jobs.js';

/** The engine in-process, as the worker's engine thread runs it (same options, default threads). */
export class InProcessEngine {
  private constructor(
    readonly scheduler: Awaited<ReturnType<typeof loadScheduler>>,
    private readonly listeners: Set<(event: GenerationEvent, at: number) => void>,
  ) {}

  static async create(
    modelDir: string,
    maxSequences: number,
    intraOpThreads: number,
    prefillChunkTokens: number,
  ): Promise<InProcessEngine> {
    const listeners = new Set<(event: GenerationEvent, at: number) => void>();
    const scheduler = await loadScheduler(modelDir, {
      maxSequences,
      intraOpThreads,
      prefillChunkTokens,
      onEvent: (event) => {
        const at = now();
        for (const listener of listeners) listener(event, at);
      },
    });
    return new InProcessEngine(scheduler, listeners);
  }

  listen(listener: (event: GenerationEvent, at: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async run(specs: JobSpec[]): Promise<RunResult> {
    const start = now();
    const times = new Map<string, TokenTimes>();
    const tokenIds = new Map<string, number[]>(specs.map((j) => [j.id, []]));
    let left = specs.length;
    const done = new Promise<void>((resolve, reject) => {
      const stop = this.listen((event, at) => {
        if (!tokenIds.has(event.id)) return;
        if (event.type === 'tokens') {
          const time = times.get(event.id);
          if (time) time.last = at - start;
          else times.set(event.id, { first: at - start, last: at - start });
          tokenIds.get(event.id)!.push(...event.tokenIds);
        } else if (event.type === 'failed') reject(new Error(event.message));
        else if (event.type === 'finished' && --left === 0) {
          stop();
          resolve();
        }
      });
    });
    for (const j of specs) this.scheduler.submit(engineRequest(j));
    await done;
    return summarize(specs, times, tokenIds);
  }
}

/**
 * A long prompt submitted while `decoders` sequences decode: the largest gap between two tokens of a
 * running sequence while it is prefilled, and its first-token time against the same prompt alone.
 */
export async function longPrompt(engine: InProcessEngine, promptTokens: number, decoders: number) {
  // The byte tokenizer gives a token per character (plus BOS), so this prompt is promptTokens long.
  const prompt = 'abcdefghij klmnopqrst uvwxyz. '.repeat(Math.ceil(promptTokens / 30)).slice(0, promptTokens - 1);
  const long = (id: string): GenerationRequest => ({ ...engineRequest({ id, prompt, maxTokens: 1, seed: 7 }) });
  // Alone: its prefill at full speed (the time to its first token with nothing else running).
  const alone = await new Promise<number>((resolve, reject) => {
    const start = now();
    const stop = engine.listen((event, at) => {
      if (event.id !== 'long-alone') return;
      if (event.type === 'failed') reject(new Error(event.message));
      if (event.type === 'tokens') {
        stop();
        resolve(at - start);
      }
    });
    engine.scheduler.submit(long('long-alone'));
  });
  // Wait for the alone request to finish before starting the mixed run.
  await new Promise((resolve) => setTimeout(resolve, 50));

  const runners = jobs(decoders, 1_000_000, 'runner');
  const times = new Map<string, number[]>(runners.map((j) => [j.id, []]));
  let submittedAt = 0;
  let firstAt = 0;
  const mixed = new Promise<void>((resolve, reject) => {
    const stop = engine.listen((event, at) => {
      if (event.type === 'failed') reject(new Error(event.message));
      if (event.type !== 'tokens') return;
      times.get(event.id)?.push(at);
      if (submittedAt === 0 && [...times.values()].every((t) => t.length >= 8)) {
        submittedAt = now();
        engine.scheduler.submit(long('long-mixed'));
      }
      if (event.id === 'long-mixed') {
        firstAt = at;
        stop();
        resolve();
      }
    });
  });
  for (const j of runners) engine.scheduler.submit(engineRequest(j));
  await mixed;
  for (const j of runners) engine.scheduler.cancel(j.id);
  // Gaps between consecutive tokens of each running sequence while the long prompt was prefilled.
  let maxGap = 0;
  const steady: number[] = [];
  for (const t of times.values())
    for (let i = 1; i < t.length; i++) {
      const gap = t[i]! - t[i - 1]!;
      if (t[i]! > submittedAt && t[i - 1]! < firstAt) maxGap = Math.max(maxGap, gap);
      if (t[i]! <= submittedAt) steady.push(gap);
    }
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the cancellations land
  return {
    prompt_tokens: promptTokens,
    decoding_sequences: decoders,
    prefill_alone_ms: alone,
    first_token_while_decoding_ms: firstAt - submittedAt,
    decode_step_before_ms: median(steady),
    max_token_gap_ms: maxGap,
  };
}
