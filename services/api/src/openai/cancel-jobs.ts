import type { Logger } from 'pino';
import type { JobStore } from '../queue/job-store.js';

/** Cancels the jobs of a request nobody waits for any more; a job that already ended is left as it is. */
export async function cancelJobs(store: JobStore, jobIds: string[], log: Logger): Promise<void> {
  const results = await Promise.allSettled(jobIds.map((id) => store.cancel(id)));
  for (const result of results)
    if (result.status === 'rejected') log.warn({ err: result.reason, job_ids: jobIds }, 'cancelling a job failed');
}
