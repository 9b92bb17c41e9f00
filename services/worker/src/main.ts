/** Worker process: `node services/worker/dist/main.js`; all configuration comes from the environment. */
import { pino } from 'pino';
import { readServiceConfig } from '@sambay/protocol';
import { GenerateWorker } from './generate-worker.js';

const config = readServiceConfig();
const logger = pino({ level: config.LOG_LEVEL, base: { service: 'worker', pid: process.pid } });

let worker: GenerateWorker;
try {
  worker = await GenerateWorker.start(config, logger);
} catch (error) {
  logger.fatal({ err: error }, 'worker could not start');
  process.exit(1);
}

// First signal: graceful (compose and Kubernetes send SIGTERM, then SIGKILL after their own grace).
// A second signal exits at once.
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'signal received');
    worker.shutdown(config.SHUTDOWN_GRACE_MS).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
