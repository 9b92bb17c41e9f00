/**
 * The queue depth admission weighs a submission against (MAX_QUEUE_DEPTH), without a Redis round
 * trip on most submissions: a reading serves for `maxAgeMs`, plus the jobs this process enqueued
 * since it was taken. Workers only ever lower the depth, so that estimate errs high; when it would
 * refuse a submission, a fresh reading decides (plus the jobs enqueued while it was out). Other API
 * processes' jobs show up with the next reading: the depth is a back-pressure signal across
 * instances, not a hard quota (the per-key in-flight limit is exact).
 */
export class QueueDepthGauge {
  private reading: { depth: number; at: number } | null = null;
  private enqueuedSince = 0;
  private pending: Promise<void> | null = null;

  constructor(
    private readonly read: () => Promise<number>,
    private readonly maxAgeMs = 250,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether `adding` more jobs keep the depth within `limit`; returns the depth it judged by. */
  async admits(adding: number, limit: number): Promise<{ admitted: boolean; depth: number }> {
    let depth = this.fresh() ? this.estimate() : null;
    if (depth === null || depth + adding > limit) {
      await this.refresh();
      depth = this.estimate();
    }
    return { admitted: depth + adding <= limit, depth };
  }

  /** Counts jobs this process enqueued, until the next reading includes them. */
  enqueued(count: number): void {
    this.enqueuedSince += count;
  }

  private fresh(): boolean {
    return this.reading !== null && this.now() - this.reading.at <= this.maxAgeMs;
  }

  /** The last reading plus what this process enqueued since (0 before any reading). */
  private estimate(): number {
    return (this.reading?.depth ?? 0) + this.enqueuedSince;
  }

  /** One reading at a time; callers that come while it is out share it. */
  private refresh(): Promise<void> {
    this.pending ??= (async () => {
      // Jobs enqueued before the read went out are in it; those enqueued while it is out may not be,
      // so they stay counted (the estimate errs high).
      const counted = this.enqueuedSince;
      const at = this.now();
      try {
        this.reading = { depth: await this.read(), at };
        this.enqueuedSince -= counted;
      } finally {
        this.pending = null;
      }
    })();
    return this.pending;
  }
}
