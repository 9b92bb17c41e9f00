/** What the rest of the process may ask of a job being processed here. */
export interface ActiveJob {
  /** The user cancelled it: stop generating and finish it as `cancelled`. */
  cancel(): void;
  /** This worker is shutting down: stop generating and give the job back to the queue unfinished. */
  handBack(): void;
  /** The job's lock was lost (it runs elsewhere now): stop generating and write nothing more. */
  abandon(): void;
}

/** The jobs this process holds, by job id: where cancel messages and shutdown find them. */
export class ActiveJobs {
  private readonly jobs = new Map<string, ActiveJob>();

  add(jobId: string, job: ActiveJob): void {
    this.jobs.set(jobId, job);
  }

  delete(jobId: string, job: ActiveJob): void {
    if (this.jobs.get(jobId) === job) this.jobs.delete(jobId);
  }

  /** Returns whether this process held the job. */
  cancel(jobId: string): boolean {
    const job = this.jobs.get(jobId);
    job?.cancel();
    return job !== undefined;
  }

  /** Returns whether this process held the job. */
  abandon(jobId: string): boolean {
    const job = this.jobs.get(jobId);
    job?.abandon();
    return job !== undefined;
  }

  handBackAll(): void {
    for (const job of this.jobs.values()) job.handBack();
  }

  get size(): number {
    return this.jobs.size;
  }
}
