import { Router, type Request, type Response } from 'express';
import { newBatchId } from '@sambay/protocol';
import type { Admission } from '../admission/admission.js';
import { callerOf, ownerOf } from '../auth/caller.js';
import { assertJobVisible } from '../auth/job-access.js';
import { ApiError } from '../errors/api-error.js';
import { fingerprintOf, type IdempotencyStore, type StoredAnswer } from '../idempotency/idempotency-store.js';
import type { JobStore } from '../queue/job-store.js';
import type { SubmitRequest } from '../validation/job-request.js';

export interface JobsRouterOptions {
  store: JobStore;
  validate: (body: unknown) => SubmitRequest;
  /** Prompt tokens, queue depth and the key's jobs in flight, then the enqueue. */
  admission: Admission;
  idempotency: IdempotencyStore;
}

/** Stripe's limit on an Idempotency-Key; visible ASCII and spaces, as a header value can carry them. */
const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/;

function idempotencyKey(req: Request): string | null {
  const key = req.get('idempotency-key');
  if (key === undefined) return null;
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw ApiError.invalidField('Idempotency-Key', '`Idempotency-Key` must be 1 to 255 printable ASCII characters');
  }
  return key;
}

const send = (res: Response, answer: StoredAnswer) =>
  res.status(answer.status).location(answer.location).json(answer.body);

/** POST /v1/jobs, GET /v1/jobs/:id, POST /v1/jobs/:id/cancel. */
export function jobsRouter(options: JobsRouterOptions): Router {
  const router = Router();
  const { store } = options;

  /** Admits and enqueues the jobs: the answer a retry with the same Idempotency-Key gets again. */
  async function submit(res: Response, submitted: SubmitRequest): Promise<StoredAnswer> {
    const requests = submitted.kind === 'single' ? [submitted.job] : submitted.jobs;
    const batchId = submitted.kind === 'batch' ? newBatchId() : null;
    const prompts =
      submitted.kind === 'single'
        ? [{ param: 'prompt', text: submitted.job.prompt }]
        : submitted.jobs.map((job, i) => ({ param: `jobs[${i}].prompt`, text: job.prompt }));
    const ids = await options.admission.enqueue(res, { requests, prompts, batchId });
    if (batchId === null)
      return { status: 202, location: `/v1/jobs/${ids[0]}`, body: { id: ids[0], status: 'queued' } };
    return {
      status: 202,
      location: `/v1/batches/${batchId}`,
      body: { batch_id: batchId, jobs: ids.map((id) => ({ id, status: 'queued' })) },
    };
  }

  router.post('/v1/jobs', async (req, res) => {
    const caller = callerOf(res);
    const submitted = options.validate(req.body);
    const key = idempotencyKey(req);
    if (key === null) {
      send(res, await submit(res, submitted));
      return;
    }
    const claimed = await options.idempotency.claim(ownerOf(caller), key, fingerprintOf(req.body as object));
    if ('replay' in claimed) {
      send(res.set('idempotent-replayed', 'true'), claimed.replay);
      return;
    }
    let answer: StoredAnswer;
    try {
      answer = await submit(res, submitted);
    } catch (error) {
      // Refusals (queue full, over a limit) are not remembered: a retry may succeed.
      await claimed.claim.release();
      throw error;
    }
    await claimed.claim.complete(answer);
    send(res, answer);
  });

  router.get('/v1/jobs/:id', async (req, res) => {
    await assertJobVisible(store, callerOf(res), req.params.id);
    const view = await store.getJob(req.params.id);
    if (!view) throw ApiError.notFound('job', req.params.id);
    res.json(view);
  });

  router.post('/v1/jobs/:id/cancel', async (req, res) => {
    const id = req.params.id;
    await assertJobVisible(store, callerOf(res), id);
    const result = await store.cancel(id);
    if (!result) throw ApiError.notFound('job', id);
    if ('finished' in result)
      throw ApiError.conflict(`job \`${id}\` has already finished (${result.finished.status})`, 'job_finished');
    if ('alreadyCancelling' in result)
      throw ApiError.conflict(`job \`${id}\` is already being cancelled`, 'job_cancelling');
    res.status(202).json({ id, status: result.outcome });
  });

  return router;
}
