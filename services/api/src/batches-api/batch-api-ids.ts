import { createHash, randomUUID } from 'node:crypto';

/**
 * Ids of the Batch API's files and batches, in OpenAI's styles (`file-…`, `batch_…`). A batch id
 * says `oai` so it never passes for a native batch (`batch_<uuid>`, POST /v1/jobs {jobs}): both are
 * served under /v1/batches/:id.
 */
const hex = () => randomUUID().replaceAll('-', '');
const FILE_ID = /^file-[0-9a-f]{32}$/;
const BATCH_ID = /^batch_oai_[0-9a-f]{32}$/;

export const newFileId = (): string => `file-${hex()}`;
export const isFileId = (id: string): boolean => FILE_ID.test(id);
export const newOpenAiBatchId = (): string => `batch_oai_${hex()}`;
export const isOpenAiBatchId = (id: string): boolean => BATCH_ID.test(id);

/** A UUID-shaped digest of `parts`: the same parts always give the same id. */
function derivedUuid(...parts: (string | number)[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * The job of choice `choice` of line `line` of a batch. Derived, not drawn, so a driver that
 * resumes after a crash finds the jobs it had already enqueued instead of running them twice.
 */
export const lineJobId = (batchId: string, line: number, choice: number): string =>
  `job_${derivedUuid(batchId, line, choice)}`;

/** The output line's `id` (OpenAI: `batch_req_…`). */
export const lineRequestId = (batchId: string, line: number): string =>
  `batch_req_${derivedUuid('request', batchId, line).replaceAll('-', '')}`;
