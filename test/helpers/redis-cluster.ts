import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/**
 * A Redis Cluster of a test's own: `masters` redis-server processes (cluster-enabled, no replicas,
 * no persistence) on free loopback ports, joined with `redis-cli --cluster create`. Each server lives
 * in a shell that stops it once its stdin (a pipe from this process) closes, so it goes with the test
 * process however that ends, SIGKILL included.
 */
export class RedisCluster {
  private constructor(
    readonly ports: number[],
    private readonly servers: ChildProcess[],
    private readonly dir: string,
  ) {}

  static async start(masters = 3): Promise<RedisCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'sambay-test-cluster-'));
    const ports: number[] = [];
    const servers: ChildProcess[] = [];
    const cluster = new RedisCluster(ports, servers, dir);
    try {
      for (let i = 0; i < masters; i += 1) {
        const port = await freePort();
        ports.push(port);
        servers.push(await startNode(port, join(dir, String(port))));
      }
      const nodes = ports.map((port) => `127.0.0.1:${port}`);
      await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes']);
      await waitFor('every node to see the cluster ok', async () => {
        const states = await Promise.all(ports.map((port) => clusterState(port)));
        return states.every((state) => state === 'ok');
      });
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  /** REDIS_URL of the cluster, every node listed. */
  get url(): string {
    return `redis+cluster://${this.ports.map((port) => `127.0.0.1:${port}`).join(',')}`;
  }

  /** Keys matching `pattern` on each node (a plain connection per node: SCAN does not cross nodes). */
  async keysPerNode(pattern: string): Promise<number[]> {
    return Promise.all(
      this.ports.map(async (port) => {
        const node = new Redis(port, '127.0.0.1');
        try {
          return (await node.keys(pattern)).length;
        } finally {
          node.disconnect();
        }
      }),
    );
  }

  async stop(): Promise<void> {
    for (const server of this.servers) server.stdin?.end();
    await Promise.all(this.servers.filter((server) => server.exitCode === null).map((server) => once(server, 'exit')));
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function startNode(port: number, dir: string): Promise<ChildProcess> {
  await mkdir(dir);
  const args = [
    ...['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no'],
    ...['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'],
  ];
  const server = spawn(
    'sh',
    ['-c', 'redis-server "$@" >/dev/null & pid=$!; cat >/dev/null; kill $pid; wait $pid', 'sh', ...args],
    {
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  await waitFor(`redis-server on port ${port}`, async () => (await clusterState(port)) !== null, { intervalMs: 50 });
  return server;
}

/** `cluster_state` of the node on `port` (`ok` once every slot is served), or null while it does not answer. */
async function clusterState(port: number): Promise<string | null> {
  const node = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  node.on('error', () => undefined);
  try {
    await node.connect();
    const info = await node.cluster('INFO');
    return /cluster_state:(\w+)/.exec(info)?.[1] ?? null;
  } catch {
    return null;
  } finally {
    node.disconnect();
  }
}
