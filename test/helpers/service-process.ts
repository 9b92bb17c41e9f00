import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { REDIS_URL } from './redis.js';

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything the process wrote, for assertion messages. */
  output(): string;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts a built service (`node <main>`) with `env` on top of this process's, and resolves once
 * `ready` finds what it waits for in the service's log output; rejects (and kills it) if the
 * service exits or stays silent first.
 */
export async function startServiceProcess<T>(
  name: string,
  main: string,
  env: Record<string, string>,
  ready: (output: string) => T | null,
  timeoutMs: number,
): Promise<{ service: ServiceProcess; value: T }> {
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, REDIS_URL, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let waiting = true;
  const found = new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${name} not ready after ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      // Once ready, not again: `ready` reads the whole output, which grows with every log line (a
      // benchmark's client would spend its CPU rescanning it while it times the service).
      if (!waiting) return;
      const value = ready(output);
      if (value !== null) {
        waiting = false;
        clearTimeout(timer);
        resolve(value);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before it was ready:\n${output}`));
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
    return { service: { child, output: () => output, stop }, value: await found };
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
}
