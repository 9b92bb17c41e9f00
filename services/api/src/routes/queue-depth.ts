import type { Queue } from 'bullmq';
import { Router } from 'express';

export interface QueueDepthView {
  /** BullMQ's counts per state (`waiting` includes `paused`). Every job here is prioritized, so `waiting` stays 0 unless something else adds plain jobs. */
  waiting: number;
  prioritized: number;
  delayed: number;
  active: number;
  /** Jobs not started yet: waiting + prioritized + delayed (what MAX_QUEUE_DEPTH bounds). */
  queued: number;
  /**
   * queued + active: the load that sizes the worker pool. Autoscalers (KEDA's metrics-api trigger,
   * infra/k8s) read this: counting `active` too keeps workers that are running jobs from being scaled
   * away the moment the queue empties.
   */
  load: number;
}

/**
 * GET /v1/queue: the queue's depth by state, for dashboards and autoscalers. KEDA's redis scaler
 * counts only lists (LLEN) and BullMQ keeps prioritized jobs in a sorted set, so scaling reads this.
 */
export function queueDepthRouter(queue: Queue): Router {
  const router = Router();
  router.get('/v1/queue', async (_req, res) => {
    const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
    const n = (state: string) => counts[state] ?? 0;
    // Asking for `waiting` makes BullMQ count `paused` too: a paused queue's jobs are waiting all the same.
    const waiting = n('waiting') + n('paused');
    const queued = waiting + n('prioritized') + n('delayed');
    const view: QueueDepthView = {
      waiting,
      prioritized: n('prioritized'),
      delayed: n('delayed'),
      active: n('active'),
      queued,
      load: queued + n('active'),
    };
    res.set('cache-control', 'no-store').json(view);
  });
  return router;
}
