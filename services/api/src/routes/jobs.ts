import { Router } from 'express';
import { newBatchId } from '@sambay/protocol';
import { ApiError } from '../errors/api-error.js';
import type { JobStore } from '../queue/job-store.js';
import type { SubmitRequest } from '../validation/job-request.js';

export interface JobsRouterOptions {
  store: JobStore;
  validate: (body: unknown) => SubmitRequest;
  /** Jobs waiting (not yet started) beyond which submissions get 429. @defaultValue MAX_QUEUE_DEPTH (10000) */
  maxQueueDepth: number;
}

/** POST /v1/jobs, GET /v1/jobs/:id, POST /v1/jobs/:id/cancel. */
export function jobsRouter(options: JobsRouterOptions): Router {
  const router = Router();
  const { store } = options;

  router.post('/v1/jobs', async (req, res) => {
    const submit = options.validate(req.body);
    const requests = submit.kind === 'single' ? [submit.job] : submit.jobs;
    // A batch is admitted whole or not at all. Two instances may both admit near the limit: the
    // depth is a back-pressure signal, not a hard quota.
    const depth = await store.queueDepth();
    if (depth + requests.length > options.maxQueueDepth) throw ApiError.overloaded(depth, options.maxQueueDepth);
    const batchId = submit.kind === 'batch' ? newBatchId() : null;
    const ids = await store.enqueue(requests, batchId);
    if (batchId === null) {
      res.status(202).location(`/v1/jobs/${ids[0]}`).json({ id: ids[0], status: 'queued' });
    } else {
      res
        .status(202)
        .location(`/v1/batches/${batchId}`)
        .json({ batch_id: batchId, jobs: ids.map((id) => ({ id, status: 'queued' })) });
    }
  });

  router.get('/v1/jobs/:id', async (req, res) => {
    const view = await store.getJob(req.params.id);
    if (!view) throw ApiError.notFound('job', req.params.id);
    res.json(view);
  });

  router.post('/v1/jobs/:id/cancel', async (req, res) => {
    const id = req.params.id;
    const result = await store.cancel(id);
    if (!result) throw ApiError.notFound('job', id);
    if ('finished' in result)
      throw ApiError.conflict(`job \`${id}\` has already finished (${result.finished.status})`, 'job_finished');
    res.status(202).json({ id, status: result.outcome });
  });

  return router;
}
