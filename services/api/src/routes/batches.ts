import { Router } from 'express';
import { callerOf, canSee } from '../auth/caller.js';
import { ApiError } from '../errors/api-error.js';
import type { JobStore } from '../queue/job-store.js';

/** GET /v1/batches/:id: the batch's jobs (without their text) and counts per status. */
export function batchesRouter(store: JobStore): Router {
  const router = Router();
  router.get('/v1/batches/:id', async (req, res) => {
    const caller = callerOf(res);
    // Another key's batch is a 404, as one that does not exist.
    if (caller.kind === 'key' && !canSee(caller, await store.batchOwner(req.params.id)))
      throw ApiError.notFound('batch', req.params.id);
    const batch = await store.getBatch(req.params.id);
    if (!batch) throw ApiError.notFound('batch', req.params.id);
    res.json(batch);
  });
  return router;
}
