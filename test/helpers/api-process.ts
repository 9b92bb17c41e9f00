import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { REDIS_URL } from './worker-process.js';

const API_MAIN = fileURLToPath(new URL('../../../services/api/dist/main.js', import.meta.url));

export interface ApiProcess {
  child: ChildProcess;
  /** e.g. `http://127.0.0.1:41234` */
  url: string;
  /** Everything the process wrote, for assertion messages. */
  output(): string;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
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
 * one's (PORT 0 and LOG_LEVEL info unless given), and resolves once /healthz answers; rejects (and
 * kills it) if it exits or stays silent first.
 */
export async function startApiProcess(env: Record<string, string>, readyTimeoutMs = 15_000): Promise<ApiProcess> {
  const child = spawn(process.execPath, [API_MAIN], {
    env: { ...process.env, REDIS_URL, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listening = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`api not listening after ${readyTimeoutMs} ms:\n${output}`)), readyTimeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const port = listeningPort(output);
      if (port !== null) {
        clearTimeout(timer);
        resolve(port);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`api exited with code ${code} before listening:\n${output}`));
    });
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = once(child, 'exit');
    child.kill(signal);
    const [code] = (await exited) as [number | null];
    return code;
  };
  try {
    const port = await listening;
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(url, readyTimeoutMs);
    return { child, url, output: () => output, stop };
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
}
