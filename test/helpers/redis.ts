import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';

/**
 * Where the tests' Redis comes from, tried in this order (README "Tests" and test/README.md):
 * - `env`: REDIS_URL is set (CI, a Redis of your own);
 * - `testcontainers`: a Docker engine is reachable (DOCKER_HOST or a docker.sock): a `redis:7-alpine`
 *   container that testcontainers reuses (one for every test file, kept between runs); with
 *   TESTCONTAINERS_REUSE_ENABLE=false each file gets its own, removed by the reaper (Ryuk) after it;
 * - `redis-server`: the binary is on PATH: one started on a free port with no persistence, stopped
 *   when the test file's process exits;
 * - `default`: redis://127.0.0.1:6379, when it answers.
 * Each test file is a process of its own and resolves it once, when this module loads (Node 20's test
 * runner has no global setup, and does not run `--import` modules in the runner process itself);
 * services a test starts get it through REDIS_URL.
 */
export type RedisSource = 'env' | 'testcontainers' | 'redis-server' | 'default';

const DEFAULT_URL = 'redis://127.0.0.1:6379';
const REDIS_IMAGE = 'redis:7-alpine';

/** A Docker engine's address, from what costs nothing to check: DOCKER_HOST, or a socket file. */
function dockerEngine(): string | null {
  if (process.env.DOCKER_HOST) return process.env.DOCKER_HOST;
  const sockets = [
    '/var/run/docker.sock',
    join(homedir(), '.docker', 'run', 'docker.sock'), // Docker Desktop
    ...(process.env.XDG_RUNTIME_DIR ? [join(process.env.XDG_RUNTIME_DIR, 'docker.sock')] : []), // rootless
  ];
  return sockets.find((socket) => existsSync(socket)) ?? null;
}

/** Whether a Redis answers PING at `url` within a second (a raw socket: nothing is left running after). */
function answers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let reply = '';
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    const end = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => {
      end(false);
    });
    socket.once('error', () => {
      end(false);
    });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) end(reply.startsWith('+PONG'));
    });
  });
}

async function startContainer(): Promise<string> {
  // Imported only here: testcontainers (dockerode and friends) is not loaded without a Docker engine.
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(REDIS_IMAGE)
    .withExposedPorts(6379)
    .withCommand(['redis-server', '--save', '', '--appendonly', 'no'])
    .withReuse()
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .start();
  return `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
}

function hasRedisServer(): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && existsSync(join(dir, 'redis-server')));
}

/**
 * A redis-server on a free port that lives exactly as long as this process: a shell holds it and
 * stops it once its stdin (a pipe from this process) closes, which happens however this process
 * ends, SIGKILL included. Nothing here keeps this process alive.
 */
async function startRedisServer(): Promise<string> {
  const port = await freePort();
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'];
  const child = spawn('sh', ['-c', 'redis-server "$@" >/dev/null & pid=$!; cat >/dev/null; kill $pid', 'sh', ...args], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.unref();
  (child.stdin as unknown as { unref(): void }).unref();
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 500; i += 1) {
    if (await answers(url)) return url;
    if (child.exitCode !== null) break;
    await sleep(10);
  }
  child.kill();
  throw new Error(`redis-server on port ${port} did not answer`);
}

const warn = (message: string) => process.stderr.write(`# test Redis: ${message}\n`);

async function resolveRedis(): Promise<{ url: string; source: RedisSource }> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) return { url: fromEnv, source: 'env' };
  if (dockerEngine() !== null) {
    try {
      return { url: await startContainer(), source: 'testcontainers' };
    } catch (error) {
      warn(`no container (${error instanceof Error ? error.message : String(error)}); trying redis-server`);
    }
  }
  if (hasRedisServer()) {
    try {
      return { url: await startRedisServer(), source: 'redis-server' };
    } catch (error) {
      warn(`${error instanceof Error ? error.message : String(error)}; trying ${DEFAULT_URL}`);
    }
  }
  if (await answers(DEFAULT_URL)) return { url: DEFAULT_URL, source: 'default' };
  throw new Error(
    'no Redis for the tests: set REDIS_URL, run a Docker engine (testcontainers), put redis-server on PATH, ' +
      `or start a Redis on ${DEFAULT_URL}`,
  );
}

const resolved = await resolveRedis();
// Child processes (services under test, and the test files of a runner that resolved it) inherit it.
process.env.REDIS_URL = resolved.url;

export const REDIS_URL = resolved.url;
/** Which of the modes above gave {@link REDIS_URL}. */
export const REDIS_SOURCE: RedisSource = resolved.source;

/**
 * A key prefix no other test (or deployment) shares, written as the hash tag QueueKeys makes of it
 * (`{test-…}`), so the same string is the services' QUEUE_PREFIX and the start of every key.
 */
export const testPrefix = () => `{test-${randomUUID()}}`;

export const connectRedis = () => new Redis(REDIS_URL, { maxRetriesPerRequest: null });

/** Deletes every key under a test's prefix (queue, streams, state hashes). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
