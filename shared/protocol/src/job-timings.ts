import type { Timings } from './job-data.js';

/** The moments a job's timings are measured between; ms since epoch. */
export interface JobTimes {
  submittedAt: number;
  /** When the first attempt started; null while the job has not run. */
  startedAt: number | null;
  firstTokenAt: number | null;
  /** When the job ended, or now for a job still queued or running. */
  finishedAt: number;
}

/**
 * The one definition of a job's timings, for the final result and the poll view alike. All are
 * measured from submission, as a client sees them; a job that never ran queued until it ended.
 */
export function jobTimings({ submittedAt, startedAt, firstTokenAt, finishedAt }: JobTimes): Timings {
  return {
    queue_ms: Math.max(0, (startedAt ?? finishedAt) - submittedAt),
    time_to_first_token_ms: firstTokenAt === null ? null : Math.max(0, firstTokenAt - submittedAt),
    total_ms: Math.max(0, finishedAt - submittedAt),
  };
}
