import type { Logger } from 'pino';
import type { StoredCheckpoint } from './previous-attempt.js';

/** service-config.ts CHECKPOINT_EVERY_TOKENS, CHECKPOINT_EVERY_MS, CHECKPOINT_MAX_BYTES (0 = off). */
export interface CheckpointSettings {
  everyTokens: number;
  everyMs: number;
  maxBytes: number;
}

export const checkpointsOn = (settings: CheckpointSettings | undefined): settings is CheckpointSettings =>
  settings !== undefined && settings.maxBytes > 0;

/**
 * The checkpoint a resumed attempt may import: only one that covers fewer tokens than the stream
 * holds (the engine needs at least one token to feed after it), which a checkpoint written after
 * the tokens it covers always does.
 */
export function usableCheckpoint(checkpoint: StoredCheckpoint | null, streamedTokens: number): StoredCheckpoint | null {
  return checkpoint && checkpoint.tokens < streamedTokens ? checkpoint : null;
}

/**
 * When one attempt asks the engine for a checkpoint of its sequence (every `everyTokens` generated
 * tokens or `everyMs`, whichever first; one request at a time), and which answers it stores: none
 * over `maxBytes`, and none after the first that is (a sequence's state only grows).
 */
export class Checkpointer {
  private asked = false;
  private off: boolean;
  private lastTokens: number;
  private lastAt = Date.now();

  constructor(
    private readonly settings: CheckpointSettings | undefined,
    /** Generated tokens the attempt starts from (the resumed ones). */
    startTokens: number,
    private readonly ask: () => void,
    private readonly store: (checkpoint: StoredCheckpoint) => Promise<void>,
    private readonly log: Logger,
  ) {
    this.off = !checkpointsOn(settings);
    this.lastTokens = startTokens;
  }

  /** After the engine's `tokens` event: asks for a checkpoint when one is due. */
  tokens(generated: number, now = Date.now()): void {
    if (this.off || this.asked || !this.settings) return;
    const due =
      generated - this.lastTokens >= this.settings.everyTokens ||
      (now - this.lastAt >= this.settings.everyMs && generated > this.lastTokens + 1);
    if (!due) return;
    this.asked = true;
    this.lastTokens = generated;
    this.lastAt = now;
    this.ask();
  }

  /** The engine's `checkpoint` event: stored (after the tokens it covers) if within the byte bound. */
  received(checkpoint: StoredCheckpoint): void {
    this.asked = false;
    if (this.off || !this.settings) return;
    if (checkpoint.state.byteLength > this.settings.maxBytes) {
      this.off = true;
      this.log.info(
        { checkpointBytes: checkpoint.state.byteLength, maxBytes: this.settings.maxBytes },
        'state over CHECKPOINT_MAX_BYTES: no more checkpoints for this attempt',
      );
      return;
    }
    this.store(checkpoint).catch((error: unknown) => {
      this.log.warn({ err: error }, 'checkpoint write failed');
    });
  }
}
