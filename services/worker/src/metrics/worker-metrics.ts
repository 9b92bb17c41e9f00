import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SchedulerStats, StepTimings } from '@sambay/engine';
import type { FinishReason } from '@sambay/protocol';

/** vLLM's buckets for time to first token, in seconds. */
export const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560,
];
/** vLLM's inter-token buckets, with two below 10 ms for small models on fast hardware. */
export const INTER_TOKEN_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80,
];
/** vLLM's request latency buckets (end to end, queue time), in seconds. */
export const REQUEST_LATENCY_BUCKETS = [
  0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680,
];

/** Model call durations: a tiny model's decode step takes about a millisecond, a 16K-token prefill minutes. */
export const STEP_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

/** What the gauges read at scrape time. */
export interface WorkerMetricsSources {
  /** The engine thread's latest scheduler stats; null until it has sent any. */
  engineStats: () => SchedulerStats | null;
  /** Jobs this process's BullMQ processor holds (running in the engine or waiting for a place in it). */
  activeJobs: () => number;
}

/** How one attempt of a job began (job-run.ts). */
export interface AttemptStart {
  /** ms since epoch, set by the API. */
  submittedAt: number;
  /** ms since epoch: when the job first ran (an earlier attempt's, for a resumed job). */
  startedAt: number;
  /** No earlier attempt ran it: its queue time is observed now. */
  firstStart: boolean;
  /** Tokens earlier attempts streamed: more than 0 makes this attempt a resume. */
  resumedTokens: number;
}

/** The numbers job-run.ts reports about one attempt: tokens, first token, its ending. */
export class AttemptMeter {
  private lastTokenAt: number | null = null;

  constructor(
    private readonly metrics: WorkerMetrics,
    private readonly start: AttemptStart,
  ) {}

  /** The engine prefilled the prompt. A resume's prompt was counted by the attempt that first prefilled it. */
  prefilled(promptTokens: number): void {
    if (this.start.resumedTokens === 0) this.metrics.promptTokens.inc(promptTokens);
  }

  /** New tokens were streamed at `now`; `first`: they include the job's first token. */
  tokens(count: number, now: number, first: boolean): void {
    if (count === 0) return;
    this.metrics.generationTokens.inc(count);
    if (first) {
      this.metrics.timeToFirstToken.observe((now - this.start.submittedAt) / 1000);
    } else if (this.lastTokenAt !== null) {
      const perToken = (now - this.lastTokenAt) / 1000 / count;
      for (let i = 0; i < count; i += 1) this.metrics.interTokenLatency.observe(perToken);
    }
    this.lastTokenAt = now;
  }

  /** The attempt wrote the job's final state (a failure is counted when BullMQ fails the job: `jobFailed`). */
  finished(status: 'completed' | 'cancelled' | 'failed', reason: FinishReason | null, finishedAt: number): void {
    this.metrics.e2eLatency.observe((finishedAt - this.start.submittedAt) / 1000);
    if (status === 'completed') {
      this.metrics.jobsCompleted.inc();
      if (reason) this.metrics.requestSuccess.inc({ finished_reason: reason });
    } else if (status === 'cancelled') {
      this.metrics.jobsCancelled.inc();
    }
  }
}

/**
 * The worker's Prometheus series (README "Metrics"), in a registry of its own served on
 * METRICS_PORT. Names follow vLLM's under `sambay:`; gauges read the engine's stats at scrape time.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly promptTokens: Counter;
  readonly generationTokens: Counter;
  readonly timeToFirstToken: Histogram;
  readonly interTokenLatency: Histogram;
  readonly e2eLatency: Histogram;
  readonly queueTime: Histogram;
  readonly stepDuration: Histogram<'kind'>;
  readonly jobsCompleted: Counter;
  readonly jobsCancelled: Counter;
  readonly jobsFailed: Counter;
  readonly requestSuccess: Counter<'finished_reason'>;
  readonly resumes: Counter;

  constructor(sources: WorkerMetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.promptTokens = new Counter({
      name: 'sambay:prompt_tokens_total',
      help: 'Prompt tokens prefilled (once per job: a resumed attempt does not count its prompt again).',
      registers,
    });
    this.generationTokens = new Counter({
      name: 'sambay:generation_tokens_total',
      help: 'Tokens generated and streamed.',
      registers,
    });
    this.timeToFirstToken = new Histogram({
      name: 'sambay:time_to_first_token_seconds',
      help: "Seconds from a job's submission to its first streamed token (queue time included, as vLLM).",
      buckets: TTFT_BUCKETS,
      registers,
    });
    this.interTokenLatency = new Histogram({
      name: 'sambay:inter_token_latency_seconds',
      help: 'Seconds between consecutive tokens of one job, as the worker receives them from the engine.',
      buckets: INTER_TOKEN_BUCKETS,
      registers,
    });
    this.e2eLatency = new Histogram({
      name: 'sambay:e2e_request_latency_seconds',
      help: "Seconds from a job's submission to its final state (completed, cancelled or failed by the engine).",
      buckets: REQUEST_LATENCY_BUCKETS,
      registers,
    });
    this.stepDuration = new Histogram({
      name: 'sambay:engine_step_duration_seconds',
      help: 'Seconds one model call of the engine took: a decode step of the whole batch, or a prefill (chunk).',
      labelNames: ['kind'],
      buckets: STEP_BUCKETS,
      registers,
    });
    this.queueTime = new Histogram({
      name: 'sambay:request_queue_time_seconds',
      help: "Seconds a job waited in the queue before its first attempt started (a resume's wait is not counted).",
      buckets: REQUEST_LATENCY_BUCKETS,
      registers,
    });
    this.jobsCompleted = new Counter({
      name: 'sambay:jobs_completed_total',
      help: 'Jobs this worker completed.',
      registers,
    });
    this.jobsCancelled = new Counter({
      name: 'sambay:jobs_cancelled_total',
      help: 'Jobs this worker ended as cancelled (the API counts jobs it cancelled while they were queued).',
      registers,
    });
    this.jobsFailed = new Counter({
      name: 'sambay:jobs_failed_total',
      help: 'Jobs BullMQ failed for good on this worker (engine errors, attempts or worker deaths used up).',
      registers,
    });
    this.requestSuccess = new Counter({
      name: 'sambay:request_success_total',
      help: 'Completed jobs by finish reason (length, eos_token, stop_sequence).',
      labelNames: ['finished_reason'],
      registers,
    });
    this.resumes = new Counter({
      name: 'sambay:job_resumes_total',
      help: 'Attempts that resumed a job after the tokens an earlier attempt streamed (worker death or hand-back).',
      registers,
    });

    const stat = (read: (stats: SchedulerStats) => number) => () => {
      const stats = sources.engineStats();
      return stats ? read(stats) : 0;
    };
    const gauge = (name: string, help: string, value: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value());
        },
      });
    gauge(
      'sambay:num_requests_running',
      'Sequences in the engine: in the decode batch or being prefilled.',
      stat((s) => s.batchSize + s.prefilling),
    );
    gauge(
      'sambay:batch_size',
      'Sequences in the decode batch.',
      stat((s) => s.batchSize),
    );
    gauge(
      'sambay:engine_requests_waiting',
      'Jobs this worker took that wait in the engine for a place or for state budget.',
      stat((s) => s.waiting),
    );
    gauge(
      'sambay:worker_active_jobs',
      'Jobs this worker holds (running or waiting in its engine).',
      sources.activeJobs,
    );
    gauge(
      'sambay:state_bytes',
      'Bytes of model state (attention cache, Mamba state) the running and prefilling sequences hold.',
      stat((s) => s.stateBytes),
    );
    gauge(
      'sambay:state_reserved_bytes',
      'State bytes admission counts: each admitted sequence at prompt + max_tokens.',
      stat((s) => s.reservedStateBytes),
    );
    gauge(
      'sambay:state_budget_bytes',
      'WORKER_STATE_BUDGET_BYTES: the reserved bytes admission allows.',
      stat((s) => s.stateBudgetBytes),
    );
    gauge(
      'sambay:state_allocated_bytes',
      "Bytes of the decode batch's buffers (every slot, every reserved row).",
      stat((s) => s.allocatedBytes),
    );
  }

  /** The meter of one attempt; counts a resume and, for a first start, observes the queue time. */
  attempt(start: AttemptStart): AttemptMeter {
    if (start.firstStart) this.queueTime.observe(Math.max(0, start.startedAt - start.submittedAt) / 1000);
    if (start.resumedTokens > 0) this.resumes.inc();
    return new AttemptMeter(this, start);
  }

  /** BullMQ failed a job for good on this worker. */
  jobFailed(): void {
    this.jobsFailed.inc();
  }

  /** The engine's model calls since its last report. */
  observeSteps(steps: StepTimings): void {
    for (const seconds of steps.decode) this.stepDuration.observe({ kind: 'decode' }, seconds);
    for (const seconds of steps.prefill) this.stepDuration.observe({ kind: 'prefill' }, seconds);
  }
}
