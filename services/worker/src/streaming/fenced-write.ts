import type { ChainableCommander } from 'ioredis';
import { FINAL_STATUSES, JobStateField, type JobStateFields, type QueueKeys } from '@sambay/protocol';

/**
 * One write of a running job, applied only while the job is unfinished and (when a lock token is
 * given) still held by the writing attempt; otherwise the script answers an error, which the writer
 * records as a failed write.
 *
 * A token chunk is applied once: the state hash counts the tokens in the stream
 * (JobStateField.streamTokens) and a chunk starting below that count is skipped. The lock fence
 * cannot catch this case: when Redis drops the connection after running a write but before
 * answering, ioredis sends the write again on reconnect, from the same attempt.
 *
 * KEYS: state, stream, text, lock. ARGV: lock token ('' = unfenced), text TTL, stream entry field
 * and value ('' value = no entry), text to APPEND ('' = none), index of the chunk's first token and
 * of the token after it ('' = not a token chunk), then state fields and values.
 */
const WRITE_SCRIPT = `
local status = redis.call('HGET', KEYS[1], '${JobStateField.status}')
${FINAL_STATUSES.map((s) => `if status == '${s}' then return redis.error_reply('ENDED the job has ended') end`).join('\n')}
if ARGV[1] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[1] then
  return redis.error_reply('LOCKLOST the job is no longer held by this attempt')
end
local apply = true
if ARGV[6] ~= '' then
  local written = tonumber(redis.call('HGET', KEYS[1], '${JobStateField.streamTokens}') or '0')
  apply = tonumber(ARGV[6]) >= written
  if apply then redis.call('HSET', KEYS[1], '${JobStateField.streamTokens}', ARGV[7]) end
end
if apply and ARGV[4] ~= '' then redis.call('XADD', KEYS[2], '*', ARGV[3], ARGV[4]) end
if apply and ARGV[5] ~= '' then
  redis.call('APPEND', KEYS[3], ARGV[5])
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
if #ARGV > 7 then redis.call('HSET', KEYS[1], unpack(ARGV, 8)) end
return 1
`;

/**
 * Stores a checkpoint, fenced like the writes above. KEYS: checkpoint, lock. ARGV: lock token,
 * TTL, tokens covered, state bytes.
 */
const CHECKPOINT_SCRIPT = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('LOCKLOST the job is no longer held by this attempt')
end
redis.call('HSET', KEYS[1], 'tokens', ARGV[3], 'state', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
`;

export interface FencedWrite {
  /** A stream entry: the encoded event's field and value. */
  entry: [string, string] | null;
  /** Text to append to the job's text. */
  text: string;
  /** For a token chunk: its first token's index and the index after its last. */
  tokens: { from: number; to: number } | null;
  state: JobStateFields;
}

/** Where a job's writes go and who may make them. */
export interface WriteFence {
  keys: QueueKeys;
  jobId: string;
  /** The attempt's BullMQ lock token; '' writes unfenced. */
  lockToken: string;
  /** TTL of the text and checkpoint while the job is unfinished. */
  ttlSeconds: number;
}

export function queueFencedWrite(pipe: ChainableCommander, fence: WriteFence, write: FencedWrite): void {
  const { keys, jobId } = fence;
  const jobKeys = [keys.jobState(jobId), keys.jobStream(jobId), keys.jobText(jobId), keys.jobLock(jobId)];
  const [field, value] = write.entry ?? ['', ''];
  const state = Object.entries(write.state).flat();
  pipe.eval(
    WRITE_SCRIPT,
    jobKeys.length,
    ...jobKeys,
    fence.lockToken,
    fence.ttlSeconds,
    field,
    value,
    write.text,
    write.tokens?.from ?? '',
    write.tokens?.to ?? '',
    ...state,
  );
}

export function queueCheckpointWrite(
  pipe: ChainableCommander,
  fence: WriteFence,
  checkpoint: { tokens: number; state: Uint8Array },
): void {
  const { keys, jobId } = fence;
  pipe.eval(
    CHECKPOINT_SCRIPT,
    2,
    keys.jobCheckpoint(jobId),
    keys.jobLock(jobId),
    fence.lockToken,
    fence.ttlSeconds,
    checkpoint.tokens,
    Buffer.from(checkpoint.state.buffer, checkpoint.state.byteOffset, checkpoint.state.byteLength),
  );
}
