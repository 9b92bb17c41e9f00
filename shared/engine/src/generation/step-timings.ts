/** Seconds each model call took since the last `take`, by kind: what the step-duration histograms observe. */
export interface StepTimings {
  /** Prompt or resume prefills and prefill chunks. */
  prefill: number[];
  decode: number[];
}

/** Kept per kind until taken; past this many the oldest are dropped (a caller that never takes them). */
const MAX_KEPT = 4096;

/** Times the scheduler's model calls; the worker drains them into its metrics. */
export class StepTimer {
  private timings: StepTimings = { prefill: [], decode: [] };

  async time<T>(kind: keyof StepTimings, run: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    try {
      return await run();
    } finally {
      const kept = this.timings[kind];
      if (kept.length >= MAX_KEPT) kept.shift();
      kept.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
  }

  take(): StepTimings {
    const taken = this.timings;
    this.timings = { prefill: [], decode: [] };
    return taken;
  }
}
