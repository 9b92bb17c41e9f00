#!/usr/bin/env node
// `npm start`: finds (or starts) Redis, makes sure the built-in model exists, then runs the API and
// one worker until either exits or the user stops them. Scale out with `npm run start:worker`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureModel } from './ensure-model.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const API_MAIN = join(root, 'services/api/dist/main.js');
const WORKER_MAIN = join(root, 'services/worker/dist/main.js');
const say = (message) => console.error(`[start] ${message}`);
/** How often this script checks that the process that started it (npm) is still there. */
const ORPHAN_CHECK_MS = 500;

/** Whether something speaking Redis answers PING at host:port. */
function redisAnswers(host, port, timeoutMs = 1000) {
  return new Promise((done) => {
    const socket = createConnection({ host, port });
    const finish = (answered) => {
      socket.destroy();
      done(answered);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    // +PONG, or an error such as -NOAUTH: either way a Redis is there.
    socket.once('data', (data) => finish(/^[+-]/.test(data.toString())));
  });
}

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

function onPath(command) {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  return dirs.some((dir) => existsSync(join(dir, command)));
}

/** A throwaway redis-server in a temp dir, on a free port, persisting nothing. */
async function startLocalRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'sambay-redis-'));
  const port = await freePort();
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no'];
  // Its own process group: Ctrl-C must not stop Redis before the worker has written its last tokens.
  const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
  for (let i = 0; i < 100 && !(await redisAnswers('127.0.0.1', port)); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!(await redisAnswers('127.0.0.1', port))) {
    child.kill('SIGKILL');
    throw new Error(`redis-server did not answer on port ${port}`);
  }
  say(
    `no Redis on 127.0.0.1:6379 and REDIS_URL is unset: started a local redis-server on 127.0.0.1:${port} (data in ${dir}, removed on exit)`,
  );
  const stop = () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: `redis://127.0.0.1:${port}`, stop, child };
}

async function findRedis() {
  // A Redis we did not start is not ours to stop.
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: () => undefined };
  if (await redisAnswers('127.0.0.1', 6379)) return { url: 'redis://127.0.0.1:6379', stop: () => undefined };
  if (onPath('redis-server')) return startLocalRedis();
  say('no Redis found: nothing answers on 127.0.0.1:6379, REDIS_URL is unset, and redis-server is not installed.');
  say('Either install Redis (Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`),');
  say(
    'or run one in Docker (`docker run -d -p 6379:6379 redis:7`), or point REDIS_URL at one (`REDIS_URL=redis://host:6379 npm start`).',
  );
  process.exit(1);
}

function ensureBuilt() {
  if (existsSync(API_MAIN) && existsSync(WORKER_MAIN) && existsSync(join(root, 'shared/engine/dist/model/index.js')))
    return;
  say('build output missing: running `tsc -b` (npm run build)');
  return new Promise((done, fail) => {
    const tsc = spawn(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], {
      cwd: root,
      stdio: 'inherit',
    });
    tsc.once('exit', (code) =>
      existsSync(API_MAIN) && existsSync(WORKER_MAIN) ? done() : fail(new Error(`build failed (tsc exit ${code})`)),
    );
  });
}

async function main() {
  await ensureBuilt();
  const redis = await findRedis();
  const modelDir = resolve(process.env.MODEL_DIR ?? join(root, '.models/tiny'));
  if (await ensureModel(modelDir)) say(`wrote the built-in model (tiny, seed 0) to ${modelDir}`);
  const env = { ...process.env, REDIS_URL: redis.url, MODEL_DIR: modelDir };

  // Own process groups, so a terminal's Ctrl-C reaches each child once, forwarded from here. The IPC
  // channel closes when this process dies, however it dies (SIGKILL included): the worker stops then.
  const children = [API_MAIN, WORKER_MAIN].map((main) =>
    spawn(process.execPath, [main], { env, stdio: ['inherit', 'inherit', 'inherit', 'ipc'], detached: true }),
  );
  const [api, worker] = children;
  say(
    `API (pid ${api.pid}) on port ${env.PORT ?? 3000}, worker (pid ${worker.pid}), Redis ${redis.url}, model ${modelDir}`,
  );

  const alive = () => children.filter((c) => c.exitCode === null && c.signalCode === null);
  const signal = (sig) => alive().forEach((c) => c.kill(sig));
  // The services stop gracefully on the first SIGTERM and at once on a second, so a second Ctrl-C forces it.
  let stopping = false;
  const stop = () => {
    signal('SIGTERM');
    stopping = true;
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, stop);
  // npm does not pass a SIGTERM it receives on to this script, it just exits: when the process that
  // started this one is gone (we were re-parented), stop as if the signal had come here.
  const parent = process.ppid;
  const orphaned = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(orphaned);
    // Already stopping (Ctrl-C reaches npm and this script alike): a second SIGTERM would cut the grace short.
    if (stopping) return;
    say('the process that started this one has exited: stopping');
    stop();
  }, ORPHAN_CHECK_MS);
  // If this process dies, take the children with it.
  process.on('exit', () => {
    signal('SIGKILL');
    redis.stop();
  });

  const exitCode = await Promise.race(
    children.map((c) => new Promise((done) => c.once('exit', (code, sig) => done(code ?? (sig ? 1 : 0))))),
  );
  // One died on its own: stop the other, giving it time to hand its jobs back.
  if (!stopping) stop();
  await Promise.all(alive().map((c) => new Promise((done) => c.once('exit', done))));
  redis.stop();
  process.exit(exitCode);
}

main().catch((error) => {
  say(error.message);
  process.exit(1);
});
