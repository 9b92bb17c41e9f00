import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { waitFor } from './wait.js';

/**
 * A redis-server of a test's own, on a free port, persisting to an append-only file in a temp
 * directory: it can be stopped and started again on the same port with its data, as a Redis
 * restart in production (a test that restarts the shared Redis would disturb every other test).
 */
export class RedisServer {
  private child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), await mkdtemp(join(tmpdir(), 'sambay-test-redis-')));
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again) on its port and directory; resolves once it answers PING. */
  async restart(): Promise<void> {
    const args = ['--bind', '127.0.0.1', '--port', String(this.port), '--dir', this.dir, '--save', ''];
    this.child = spawn('redis-server', [...args, '--appendonly', 'yes'], { stdio: 'ignore' });
    const probe = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    try {
      await waitFor(
        `redis-server on port ${this.port}`,
        async () =>
          (await probe.connect().then(
            () => probe.ping(),
            () => null,
          )) === 'PONG',
        { intervalMs: 50 },
      );
    } finally {
      probe.disconnect();
    }
  }

  /** SIGTERM (Redis writes its AOF and exits) and wait for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child?.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  /** Stops the server and deletes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
