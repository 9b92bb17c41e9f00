// The HTTP API's JSON bodies as a client sees them, written out here so the tests check the wire
// format rather than borrow the API's own types: a change to the wire shape must fail here.
import type { FinishReason, JobStatus, Timings, Usage } from '@sambay/protocol';

/** Every error: `{"error": {message, type, param, code}}`. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

/** 202 to POST /v1/jobs with one job. */
export interface JobAccepted {
  id: string;
  status: 'queued';
}

/** 202 to POST /v1/jobs with `jobs`. */
export interface BatchAccepted {
  batch_id: string;
  jobs: JobAccepted[];
}

/** 202 to POST /v1/jobs/:id/cancel. */
export interface CancelAccepted {
  id: string;
  status: string;
}

/** GET /v1/jobs/:id. */
export interface JobView {
  id: string;
  status: JobStatus;
  queue_position: number | null;
  progress: { generated_tokens: number; max_tokens: number | null; tokens_per_second: number | null };
  text: string;
  finish_reason: FinishReason | null;
  usage: Usage | null;
  timings: Timings;
  error: string | null;
  seed: number | null;
  batch_id: string | null;
  metadata: Record<string, string>;
  created_at: string | null;
}

/** A batch member past its TTL. */
export interface ExpiredJob {
  id: string;
  status: 'expired';
}

/** GET /v1/batches/:id. */
export interface BatchView {
  id: string;
  created_at: string;
  jobs: (Omit<JobView, 'text'> | ExpiredJob)[];
  counts: Record<JobStatus | 'total' | 'expired', number>;
}

/** GET /healthz. */
export interface HealthBody {
  status: string;
}

/** GET /readyz. */
export interface ReadyBody {
  status: 'ready' | 'unavailable';
  redis: 'ok' | 'unreachable';
  model: { dir: string; name: string; type: string | null } | null;
  reasons?: string[];
}
