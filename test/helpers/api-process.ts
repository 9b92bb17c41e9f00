import { fileURLToPath } from 'node:url';
import { startServiceProcess, type ServiceProcess } from './service-process.js';

const API_MAIN = fileURLToPath(new URL('../../../services/api/dist/main.js', import.meta.url));

export interface ApiProcess extends ServiceProcess {
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
}

/** The port from the API's `api listening` log line (it listens on PORT=0, so the OS picks a free one). */
function listeningPort(output: string): number | null {
  for (const line of output.split('\n')) {
    if (!line.includes('"msg":"api listening"')) continue;
    const port = (JSON.parse(line) as { port?: number }).port;
    if (typeof port === 'number') return port;
  }
  return null;
}

async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not accepting connections yet
    }
    if (Date.now() > deadline) throw new Error(`no 200 from ${url}/healthz within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts the built API (`services/api/dist/main.js`) as its own process with `env` on top of this
 * one's (PORT 0 unless given, so the OS picks a free port), and resolves once /healthz answers.
 */
export async function startApiProcess(env: Record<string, string>, readyTimeoutMs = 15_000): Promise<ApiProcess> {
  const { service, value: port } = await startServiceProcess(
    'api',
    API_MAIN,
    { PORT: '0', ...env },
    listeningPort,
    readyTimeoutMs,
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(url, readyTimeoutMs);
  } catch (error) {
    await service.stop('SIGKILL');
    throw error;
  }
  return { ...service, url };
}
