import { Router } from 'express';
import { ApiError } from '../errors/api-error.js';
import type { JobStore } from '../queue/job-store.js';

/** GET /v1/batches/:id: the batch's jobs (without their text) and counts per status. */
export function batchesRouter(store: JobStore): Router {
  const router = Router();
  router.get('/v1/batches/:id', async (req, res) => {
    const batch = await store.getBatch(req.params.id);
    if (!batch) throw ApiError.notFound('batch', req.params.id);
    res.json(batch);
  });
  return router;
}
