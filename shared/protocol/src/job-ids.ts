import { randomUUID } from 'node:crypto';

/**
 * Job and batch ids, minted only here. The prefix says what an id names, so a batch id given where
 * a job id belongs is a clean 404, and the UUID makes ids unguessable across API instances.
 */
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const JOB_ID = new RegExp(`^job_${UUID}$`);
const BATCH_ID = new RegExp(`^batch_${UUID}$`);

export const newJobId = (): string => `job_${randomUUID()}`;
export const newBatchId = (): string => `batch_${randomUUID()}`;
export const isJobId = (id: string): boolean => JOB_ID.test(id);
export const isBatchId = (id: string): boolean => BATCH_ID.test(id);
