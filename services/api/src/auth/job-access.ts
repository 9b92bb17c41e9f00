import { ApiError } from '../errors/api-error.js';
import type { JobStore } from '../queue/job-store.js';
import { canSee, type Caller } from './caller.js';

/**
 * 404 unless the caller may see the job: another key's job answers as one that does not exist, so
 * a key cannot probe others' ids. Open mode and admin keys skip the lookup.
 */
export async function assertJobVisible(store: JobStore, caller: Caller, id: string): Promise<void> {
  if (caller.kind === 'open' || caller.key.admin) return;
  if (!canSee(caller, await store.jobOwner(id))) throw ApiError.notFound('job', id);
}
