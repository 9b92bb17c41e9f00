/**
 * How long an unfinished job's keys (state, stream, text) live: long enough to outlast any wait in
 * the queue, bounded so a job that no attempt ever finishes cannot leak them. Whoever writes a job's
 * last event shortens them to RESULT_TTL_SECONDS.
 */
export const pendingTtlSeconds = (resultTtlSeconds: number) => resultTtlSeconds + 24 * 3600;
