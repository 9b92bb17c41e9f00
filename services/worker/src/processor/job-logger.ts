import type { Logger } from 'pino';
import type { GenerateJobData } from '@sambay/protocol';

/**
 * The logger of every line about one job: `jobId` and `batchId` (null outside a batch) on top of the
 * process logger's `workerId`. The same field names are used by the API's request logger.
 */
export function jobLogger(
  logger: Logger,
  job: { id?: string | undefined; data?: GenerateJobData | undefined },
): Logger {
  return logger.child({ jobId: job.id ?? null, batchId: job.data?.batchId ?? null });
}
