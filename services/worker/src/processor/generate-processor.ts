import type { Processor } from 'bullmq';
import type { GenerateJobData, GenerateJobResult } from '@sambay/protocol';
import { JobRun, type JobRunDeps } from './job-run.js';

/**
 * The BullMQ processor: one call per job attempt, resolving with the job's result once the engine
 * has finished it. Many calls run at once (concurrency = WORKER_MAX_SEQUENCES); the engine batches them.
 */
export function createGenerateProcessor(deps: JobRunDeps): Processor<GenerateJobData, GenerateJobResult> {
  return (job, token) => new JobRun(deps, job, token).execute();
}
