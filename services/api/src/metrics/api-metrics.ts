import type { Queue } from 'bullmq';
import { Router } from 'express';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/** The queue states `sambay:queue_depth` reports (BullMQ's names; `waiting` includes `paused`). */
export const QUEUE_DEPTH_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;

/** How long a scrape waits for the queue's counts. */
const COUNT_TIMEOUT_MS = 2000;

type QueueCounts = Record<(typeof QUEUE_DEPTH_STATES)[number], number>;

/** What the gauges read at scrape time. */
export interface ApiMetricsSources {
  /** The API's BullMQ queue (JobStore's). */
  queue: Queue;
  /** SSE streams this process serves (native job events and OpenAI streams alike). */
  sseClients: () => number;
  /** Job streams the process's shared reader follows for those clients. */
  followedStreams: () => number;
  logger: Logger;
}

/**
 * The API's Prometheus series (README "Metrics"), in a registry of its own served at `GET /metrics`
 * on PORT. Queue depths are read from Redis at scrape time (one BullMQ count per scrape), so every
 * API replica reports the same, whole-queue numbers: dashboards take `max`, not `sum`, of them.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  /** Jobs this process enqueued (native, OpenAI and Batch API submissions). */
  readonly jobsSubmitted: Counter;
  /** Jobs this process cancelled while they were queued (a running job's cancel is counted by its worker). */
  readonly jobsCancelled: Counter;
  private sources: ApiMetricsSources | null = null;
  /** One count of the queue serves every gauge of a scrape. */
  private counting: Promise<QueueCounts | null> | null = null;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.jobsSubmitted = new Counter({
      name: 'sambay:jobs_submitted_total',
      help: 'Jobs this API process enqueued.',
      registers,
    });
    this.jobsCancelled = new Counter({
      name: 'sambay:jobs_cancelled_total',
      help: 'Jobs this API process cancelled while they were queued (workers count the running ones they end).',
      registers,
    });
    // Arrow functions: `collect` gets the gauge as `this`; the counts come from this object.
    const counts = () => this.queueCounts();
    new Gauge({
      name: 'sambay:queue_depth',
      help: 'Jobs in the queue by BullMQ state (waiting includes paused; every job here is prioritized).',
      labelNames: ['state'],
      registers,
      async collect() {
        const now = await counts();
        this.reset();
        if (now) for (const state of QUEUE_DEPTH_STATES) this.set({ state }, now[state]);
      },
    });
    new Gauge({
      name: 'sambay:num_requests_waiting',
      help: 'Jobs queued and not started, in the whole queue: waiting + prioritized + delayed.',
      registers,
      async collect() {
        const now = await counts();
        this.reset();
        if (now) this.set(now.waiting + now.prioritized + now.delayed);
      },
    });
    const sseClients = () => this.sources?.sseClients() ?? 0;
    new Gauge({
      name: 'sambay:sse_clients_connected',
      help: 'SSE streams this API process serves now (job events and OpenAI streams).',
      registers,
      collect() {
        this.set(sseClients());
      },
    });
    const followedStreams = () => this.sources?.followedStreams() ?? 0;
    new Gauge({
      name: 'sambay:sse_followed_streams',
      help: "Job streams this API process's one shared reader follows (one blocking XREAD over all of them).",
      registers,
      collect() {
        this.set(followedStreams());
      },
    });
  }

  /** Connects the scrape-time gauges to what they read (the queue exists only once the store does). */
  observe(sources: ApiMetricsSources): void {
    this.sources = sources;
  }

  /** `GET /metrics` in Prometheus' text format. */
  router(): Router {
    const router = Router();
    router.get('/metrics', async (_req, res) => {
      const text = await this.registry.metrics();
      res.set('content-type', this.registry.contentType).set('cache-control', 'no-store').send(text);
    });
    return router;
  }

  /** The queue's counts, or null (and the depth series left out) when Redis does not answer. */
  private queueCounts(): Promise<QueueCounts | null> {
    const sources = this.sources;
    if (!sources) return Promise.resolve(null);
    if (this.counting) return this.counting;
    // A Redis that does not answer must not hold the scrape past Prometheus' timeout.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`no answer within ${COUNT_TIMEOUT_MS} ms`));
      }, COUNT_TIMEOUT_MS);
    });
    const counted = sources.queue.getJobCounts('waiting', 'paused', 'prioritized', 'active', 'delayed', 'failed');
    this.counting = Promise.race([counted, timeout])
      .then(
        (c): QueueCounts => ({
          waiting: (c.waiting ?? 0) + (c.paused ?? 0),
          prioritized: c.prioritized ?? 0,
          active: c.active ?? 0,
          delayed: c.delayed ?? 0,
          failed: c.failed ?? 0,
        }),
        (error: unknown) => {
          sources.logger.warn({ err: error }, 'metrics: could not count the queue');
          return null;
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.counting = null;
      });
    return this.counting;
  }
}
