/** Coarse progress of one job, as written to its stream. */
export interface ProgressReport {
  generated_tokens: number;
  max_tokens: number;
  tokens_per_second: number;
}

/**
 * Decides when a job reports progress: at most once per interval. Per-token data never goes through
 * BullMQ's job progress, which lands in one shared, trimmed events stream per queue.
 */
export class ProgressMeter {
  private firstTokenAt: number | null = null;
  private tokensAtFirst = 0;
  private lastReportAt = 0;

  constructor(
    private readonly maxTokens: number,
    /** @defaultValue 1000 */
    private readonly intervalMs = 1000,
  ) {}

  /** Called with the running token count after each chunk; returns a report when one is due. */
  tick(generated: number, now = Date.now()): ProgressReport | null {
    if (this.firstTokenAt === null) {
      this.firstTokenAt = this.lastReportAt = now;
      this.tokensAtFirst = generated;
      return null;
    }
    if (now - this.lastReportAt < this.intervalMs) return null;
    this.lastReportAt = now;
    return this.report(generated, now);
  }

  report(generated: number, now = Date.now()): ProgressReport {
    return { generated_tokens: generated, max_tokens: this.maxTokens, tokens_per_second: this.rate(generated, now) };
  }

  /** Decode rate of this attempt: tokens after its first one, over the time since. */
  private rate(generated: number, now: number): number {
    if (this.firstTokenAt === null || now <= this.firstTokenAt) return 0;
    return Math.round(((generated - this.tokensAtFirst) / ((now - this.firstTokenAt) / 1000)) * 10) / 10;
  }
}
