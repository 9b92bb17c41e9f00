/** Seconds each model call took since the last `take`, by kind: what the step-duration histograms observe. */
export interface StepTimings {
  /** Prompt or resume prefills and prefill chunks. */
  prefill: number[];
  decode: number[];
}

/** Kept per kind until taken; past this many the oldest are dropped (a caller that never takes them). */
const MAX_KEPT = 4096;
/** Decode steps `typicalDecodeMs` looks back on: enough that one slow step (a cache growing) is not typical. */
const RECENT_DECODES = 9;

/** Times the scheduler's model calls; the worker drains them into its metrics. */
export class StepTimer {
  private timings: StepTimings = { prefill: [], decode: [] };
  private readonly recentDecodes: number[] = [];

  async time<T>(kind: keyof StepTimings, run: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    try {
      return await run();
    } finally {
      const kept = this.timings[kind];
      if (kept.length >= MAX_KEPT) kept.shift();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      kept.push(seconds);
      if (kind === 'decode' && this.recentDecodes.push(seconds) > RECENT_DECODES) this.recentDecodes.shift();
    }
  }

  /** The median of the last few decode steps, in ms; 0 before the first. */
  typicalDecodeMs(): number {
    const sorted = [...this.recentDecodes].sort((a, b) => a - b);
    return sorted.length === 0 ? 0 : 1000 * sorted[sorted.length >> 1]!;
  }

  take(): StepTimings {
    const taken = this.timings;
    this.timings = { prefill: [], decode: [] };
    return taken;
  }
}
