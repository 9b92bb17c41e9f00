import { fileURLToPath } from 'node:url';
import { startServiceProcess, type ServiceProcess } from './service-process.js';

const WORKER_MAIN = fileURLToPath(new URL('../../../services/worker/dist/main.js', import.meta.url));

export type WorkerProcess = ServiceProcess;

/**
 * Starts the built worker (`services/worker/dist/main.js`) as its own process and resolves once it
 * logs `worker ready` (engine loaded, BullMQ connected); rejects if it exits first.
 */
export async function startWorkerProcess(env: Record<string, string>, readyTimeoutMs = 60_000): Promise<WorkerProcess> {
  const ready = (output: string) => (output.includes('"msg":"worker ready"') ? true : null);
  return (await startServiceProcess('worker', WORKER_MAIN, env, ready, readyTimeoutMs)).service;
}
