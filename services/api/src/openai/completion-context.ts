import type { QueueKeys } from '@sambay/protocol';
import type { JobStore } from '../queue/job-store.js';
import type { OpenStreams } from '../sse/open-streams.js';
import type { StreamFanout } from '../sse/stream-fanout.js';
import type { CompletionRecords } from './completion-record.js';

/** What the completion handlers share. */
export interface CompletionContext {
  store: JobStore;
  keys: QueueKeys;
  records: CompletionRecords;
  streams: OpenStreams;
  /** The process's shared reader of job streams. */
  fanout: StreamFanout;
  /** @defaultValue SSE_HEARTBEAT_MS (15000) */
  heartbeatMs: number;
  /** How long a disconnected stream's jobs wait for a reconnect before they are cancelled. @defaultValue STREAM_RESUME_GRACE_MS (10000) */
  resumeGraceMs: number;
  /** Longest wait for an event before the jobs' statuses are checked. @defaultValue 5000 */
  idleCheckMs: number;
}
