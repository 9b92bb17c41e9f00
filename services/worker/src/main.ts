/** Worker process: `node services/worker/dist/main.js`; all configuration comes from the environment. */
import { pino } from 'pino';
import { readServiceConfig } from '@sambay/protocol';
import { GenerateWorker } from './generate-worker.js';
import { startHealthServer } from './health-server.js';
import { startMetricsServer } from './metrics/metrics-server.js';
import { WORKER_ID } from './worker-id.js';

const config = readServiceConfig();
const logger = pino({ level: config.LOG_LEVEL, base: { service: 'worker', pid: process.pid, workerId: WORKER_ID } });

// Signals are handled from here on, not only once the worker is up: its BullMQ worker may take a
// job before `start` returns, and a SIGTERM then must hand it back rather than kill the process.
const starting = GenerateWorker.start(config, logger);

/**
 * Past SHUTDOWN_GRACE_MS plus this, the process exits whatever it is waiting on. `shutdown` is
 * bounded on its own (generate-worker.ts); this covers anything that is not.
 */
const SHUTDOWN_OVERRUN_MS = 6_000;

// First signal: graceful (compose and Kubernetes send SIGTERM, then SIGKILL after their own grace).
// A second signal exits at once.
let stopping = false;
function stop(reason: string): void {
  if (stopping) process.exit(1);
  stopping = true;
  logger.info({ reason }, 'stopping');
  setTimeout(() => {
    logger.error('shutdown overran its bound: exiting now');
    process.exit(1);
  }, config.SHUTDOWN_GRACE_MS + SHUTDOWN_OVERRUN_MS).unref();
  starting
    .then((worker) => worker.shutdown(config.SHUTDOWN_GRACE_MS))
    .then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
}
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const)
  process.on(signal, () => {
    stop(signal);
  });
// Started with an IPC channel (scripts/start.js): the parent's death closes it, and this process goes too.
if (process.send)
  process.once('disconnect', () => {
    stop('parent exited');
  });

let worker: GenerateWorker;
try {
  worker = await starting;
} catch (error) {
  logger.fatal({ err: error }, 'worker could not start');
  process.exit(1);
}
startHealthServer(config, logger);
startMetricsServer(config.METRICS_PORT, worker.metrics.registry, logger);
