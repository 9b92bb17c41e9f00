import type { BatchRecord } from './batch-store.js';

/** OpenAI's Batch object. */
export function batchObject(record: BatchRecord, model: string) {
  const { info, times, progress } = record;
  return {
    id: info.id,
    object: 'batch',
    endpoint: info.endpoint,
    model,
    errors: record.errors ? { object: 'list', data: record.errors } : null,
    input_file_id: info.input_file_id,
    completion_window: info.completion_window,
    status: record.status,
    output_file_id: record.output_file_id,
    error_file_id: record.error_file_id,
    created_at: info.created_at,
    in_progress_at: times.in_progress ?? null,
    expires_at: info.expires_at,
    finalizing_at: times.finalizing ?? null,
    completed_at: times.completed ?? null,
    failed_at: times.failed ?? null,
    expired_at: times.expired ?? null,
    cancelling_at: times.cancelling ?? null,
    cancelled_at: times.cancelled ?? null,
    request_counts: { total: record.total, completed: progress.completed, failed: progress.failed },
    metadata: info.metadata,
  };
}
