import type { Response } from 'express';
import type { ApiKey } from './api-keys.js';

/**
 * Who sent a request: the API key it presented, or, in open local mode (no keys configured),
 * anyone, who owns nothing, sees everything and has no limits.
 */
export type Caller = { kind: 'key'; key: ApiKey } | { kind: 'open' };

const OPEN: Caller = { kind: 'open' };

export function setCaller(res: Response, caller: Caller): void {
  res.locals.caller = caller;
}

/** The caller `authenticate` recorded; open when no key check ran (routes outside /v1). */
export const callerOf = (res: Response): Caller => (res.locals.caller as Caller | undefined) ?? OPEN;

/** The owner recorded on what the caller creates: its key's name, or null in open mode. */
export const ownerOf = (caller: Caller): string | null => (caller.kind === 'key' ? caller.key.name : null);

/** Whether the caller may see (and cancel) what `owner` created: its own, or anything for an admin or in open mode. */
export function canSee(caller: Caller, owner: string | null): boolean {
  return caller.kind === 'open' || caller.key.admin || owner === caller.key.name;
}
