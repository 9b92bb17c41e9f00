import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `probe` every `intervalMs` until it returns a truthy value, and returns that value; throws
 * after `timeoutMs`. The limit only keeps a broken test from hanging: it is no claim about speed,
 * so make it generous.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  { timeoutMs = 10_000, intervalMs = 10, detail = () => '' }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${detail()}`);
    await sleep(intervalMs);
  }
}

export interface WaitOptions {
  /** @defaultValue 10000 */
  timeoutMs?: number;
  /** @defaultValue 10 */
  intervalMs?: number;
  /** Appended to the timeout error, e.g. a service's log output. */
  detail?: () => string;
}
