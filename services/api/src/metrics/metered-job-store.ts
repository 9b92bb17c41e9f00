import { JobStore, type JobStoreOptions } from '../queue/job-store.js';
import type { ApiMetrics } from './api-metrics.js';

/**
 * The JobStore with its submissions and queued-job cancels counted (`sambay:jobs_submitted_total`,
 * `sambay:jobs_cancelled_total`): every route that enqueues (native, OpenAI, Batch API) goes
 * through these methods, so counting here needs no edit to any route.
 */
export class MeteredJobStore extends JobStore {
  constructor(
    options: JobStoreOptions,
    private readonly metrics: ApiMetrics,
  ) {
    super(options);
  }

  override async enqueue(...args: Parameters<JobStore['enqueue']>): ReturnType<JobStore['enqueue']> {
    const ids = await super.enqueue(...args);
    this.metrics.jobsSubmitted.inc(ids.length);
    return ids;
  }

  /** Counts the jobs handed in; ones a resumed Batch API driver submits again (already queued) count again. */
  override async enqueueWithIds(
    ...args: Parameters<JobStore['enqueueWithIds']>
  ): ReturnType<JobStore['enqueueWithIds']> {
    await super.enqueueWithIds(...args);
    this.metrics.jobsSubmitted.inc(args[0].length);
  }

  override async cancel(...args: Parameters<JobStore['cancel']>): ReturnType<JobStore['cancel']> {
    const outcome = await super.cancel(...args);
    // `cancelling`: a worker holds the job and counts it when it ends.
    if (outcome && 'outcome' in outcome && outcome.outcome === 'cancelled') this.metrics.jobsCancelled.inc();
    return outcome;
  }
}
