/**
 * @sambay/protocol: what the API and the workers agree on. No model code and no onnxruntime here,
 * so the API stays light; docs/protocol.md describes the keys, events and state transitions.
 */
export { FINAL_STATUSES, finalRecord, writeFinalState, type FinalRecord, type JobEnding } from './final-state.js';
export type {
  FinishReason,
  GenerateJobData,
  GenerateJobResult,
  JobRequest,
  JobStatus,
  Timings,
  Usage,
} from './job-data.js';
export { isBatchId, isJobId, newBatchId, newJobId } from './job-ids.js';
export { JobStateField, parseJobState, type JobState, type JobStateFields } from './job-state.js';
export { jobTimings, type JobTimes } from './job-timings.js';
export { PRIORITY_MAX, PRIORITY_MIN, toBullPriority } from './priority.js';
export { QueueKeys } from './queue-keys.js';
export {
  createRedisConnection,
  parseClusterUrl,
  type RedisClient,
  type RedisConnectionOptions,
} from './redis-connection.js';
export { pendingTtlSeconds } from './retention.js';
export { readServiceConfig, ServiceConfigError, type ServiceConfig } from './service-config.js';
export { ServiceError } from './service-error.js';
export { decodeStreamEvent, encodeStreamEvent, isTerminal, type StreamEvent } from './stream-event.js';
