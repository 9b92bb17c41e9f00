import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router } from 'express';
import { adminKeyGuard } from './admin-key-guard.js';

export interface QueueDashboardOptions {
  /** The API's own BullMQ queue (JobStore.queue): the dashboard reads and acts on the same jobs. */
  queue: Queue;
  /** Where the router is mounted; the dashboard's page links its assets and API under it. @defaultValue '/admin/queues' */
  basePath?: string;
  /** ADMIN_API_KEY: unset, the dashboard is open (development); set, every request must present it. */
  adminKey: string | undefined;
}

/**
 * bull-board's dashboard over the generation queue: counts per state, jobs with their data and
 * return values, retry / remove / promote. Mount it at `basePath`:
 * `app.use('/admin/queues', queueDashboard({ queue, adminKey }))`.
 */
export function queueDashboard(options: QueueDashboardOptions): Router {
  const basePath = options.basePath ?? '/admin/queues';
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(basePath);
  createBullBoard({
    queues: [new BullMQAdapter(options.queue, { readOnlyMode: false, description: 'generation jobs' })],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'sambay queues' } },
  });
  const router = Router();
  router.use(adminKeyGuard(options.adminKey));
  router.use(serverAdapter.getRouter() as Router);
  return router;
}
