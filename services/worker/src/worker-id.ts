import { hostname } from 'node:os';

/**
 * This worker process's id: BullMQ stores it on each job it takes (`processedBy`), every log line
 * carries it as `workerId`, and it names the process in metrics scraped from several workers.
 */
export const WORKER_ID = `${hostname()}:${process.pid}`;
