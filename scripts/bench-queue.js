#!/usr/bin/env node
// `npm run bench:queue`: how fast one API process accepts jobs. Submits JOBS jobs through the batch
// endpoint (POST /v1/jobs {"jobs": [...]}, BATCH per request, CONCURRENCY requests in flight) against
// one built API process on fresh Redis prefixes (no workers: every job stays queued), and measures raw
// BullMQ `addBulk` of the same jobs in the same run as the baseline, alternating the two for
// `--trials` trials (the median ratio is the result). Prints a table; `--json FILE` writes the
// numbers. Every key it wrote is deleted afterwards.
//   npm run bench:queue -- [--jobs 10000] [--batch 256] [--concurrency 4] [--trials 3] [--json FILE]
// Redis: REDIS_URL (default redis://127.0.0.1:6379). Needs the build (npm run build).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QueueKeys, toBullPriority } from '@sambay/protocol';
import { ensureModel } from './ensure-model.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const API_MAIN = join(root, 'services/api/dist/main.js');
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
/** Jobs each side submits first, unmeasured (JIT, connections, Redis' first allocations). */
const WARMUP_JOBS = 1024;

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    batch: { type: 'string', default: '256' },
    concurrency: { type: 'string', default: '4' },
    trials: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
const JOBS = Number(args.jobs);
const BATCH = Number(args.batch);
const CONCURRENCY = Number(args.concurrency);
const TRIALS = Number(args.trials);

/** The request the API stores for `{prompt, max_tokens}` with every other field at its default. */
const request = (i) => ({
  prompt: `benchmark prompt number ${i}`,
  max_tokens: 16,
  temperature: 1,
  top_p: 1,
  top_k: 0,
  seed: i,
  stop: [],
  ignore_eos: false,
  priority: 0,
  metadata: {},
});

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** Runs `submit(offset, count)` for JOBS jobs in BATCH-sized calls, CONCURRENCY at a time. */
async function drive(submit) {
  const latencies = [];
  let next = 0;
  const started = process.hrtime.bigint();
  const lane = async () => {
    while (next < JOBS) {
      const offset = next;
      const count = Math.min(BATCH, JOBS - offset);
      next += count;
      const t = process.hrtime.bigint();
      await submit(offset, count);
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return {
    jobs: JOBS,
    seconds,
    jobs_per_second: JOBS / seconds,
    batch_ms_p50: quantile(latencies, 0.5),
    batch_ms_p99: quantile(latencies, 0.99),
  };
}

async function deleteKeys(redis, prefix) {
  const match = `${new QueueKeys(prefix).prefix}:*`;
  let cursor = '0';
  do {
    const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = nextCursor;
  } while (cursor !== '0');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process in bytes (Linux /proc), or null elsewhere. */
function rssOf(pid) {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null;
  }
}

/** Raw BullMQ: the same job records (name, data, jobId, priority, attempts, retention) through addBulk. */
async function baseline(prefix) {
  const keys = new QueueKeys(prefix);
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  connection.on('error', () => undefined);
  const queue = new Queue(keys.queueName, { prefix: keys.bullPrefix, connection });
  const add = (first, count) =>
    queue.addBulk(
      Array.from({ length: count }, (_, k) => {
        const req = request(first + k);
        return {
          name: 'generate',
          data: { request: req, batchId: null, submittedAt: Date.now() },
          opts: {
            jobId: `job_${randomUUID()}`,
            priority: toBullPriority(req.priority),
            attempts: 3,
            removeOnComplete: { age: 3600 },
            removeOnFail: { age: 3600 },
          },
        };
      }),
    );
  try {
    for (let i = 0; i < WARMUP_JOBS; i += BATCH) await add(-WARMUP_JOBS + i, BATCH);
    return await drive(add);
  } finally {
    await queue.close();
    await connection.quit();
  }
}

async function throughApi(prefix) {
  // The API reads the model's config and tokenizer (prompt limits), never its weights.
  const dir = mkdtempSync(join(tmpdir(), 'sambay-bench-queue-'));
  await ensureModel(dir);
  const port = await freePort();
  const api = spawn(process.execPath, [API_MAIN], {
    env: {
      ...process.env,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      MODEL_DIR: dir,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      MAX_QUEUE_DEPTH: String(JOBS + WARMUP_JOBS + BATCH),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, rssOf(api.pid) ?? 0);
  }, 50);
  try {
    for (let i = 0; ; i += 1) {
      const ok = await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 200 || api.exitCode !== null) throw new Error('the API did not start');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const rssIdle = rssOf(api.pid);
    const submit = async (first, count) => {
      const jobs = Array.from({ length: count }, (_, k) => ({ prompt: request(first + k).prompt, max_tokens: 16 }));
      const res = await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jobs }),
      });
      const body = await res.text();
      if (res.status !== 202) throw new Error(`POST /v1/jobs: ${res.status} ${body}`);
    };
    for (let i = 0; i < WARMUP_JOBS; i += BATCH) await submit(-WARMUP_JOBS + i, BATCH);
    peakRss = 0;
    const result = await drive(submit);
    const rssAfter = rssOf(api.pid);
    return {
      ...result,
      api_rss_idle_bytes: rssIdle,
      api_rss_peak_bytes: peakRss || null,
      api_rss_after_bytes: rssAfter,
    };
  } finally {
    clearInterval(sampler);
    if (api.exitCode === null) {
      const exited = once(api, 'exit');
      api.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (bytes) => (bytes === null || bytes === undefined ? 'n/a' : `${(bytes / 2 ** 20).toFixed(1)} MiB`);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/** One trial: raw addBulk, then the API, each on a fresh prefix deleted afterwards. */
async function trial(redis) {
  const run = randomUUID().slice(0, 8);
  const prefixes = { raw: `bench-queue-raw-${run}`, api: `bench-queue-api-${run}` };
  try {
    const raw = await baseline(prefixes.raw);
    await deleteKeys(redis, prefixes.raw);
    const api = await throughApi(prefixes.api);
    return { raw_add_bulk: raw, api, raw_over_api: raw.jobs_per_second / api.jobs_per_second };
  } finally {
    await deleteKeys(redis, prefixes.raw);
    await deleteKeys(redis, prefixes.api);
  }
}

async function main() {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const trials = [];
  try {
    // Alternating the two paths trial by trial: on a shared machine the load moves between runs.
    for (let t = 0; t < TRIALS; t += 1) trials.push(await trial(redis));
  } finally {
    redis.disconnect();
  }
  const ratio = median(trials.map((t) => t.raw_over_api));
  const report = {
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      memory_bytes: totalmem(),
      node: process.version,
      load_average: loadavg(),
    },
    settings: {
      jobs: JOBS,
      batch: BATCH,
      concurrency: CONCURRENCY,
      trials: TRIALS,
      warmup_jobs: WARMUP_JOBS,
      redis: REDIS_URL,
    },
    trials,
    median_raw_over_api: ratio,
    within_2x: ratio <= 2,
  };
  const row = (name, r, rss) =>
    `| ${name.padEnd(25)} | ${r.jobs_per_second.toFixed(0).padStart(7)} | ${r.batch_ms_p50.toFixed(1).padStart(7)} | ${r.batch_ms_p99.toFixed(1).padStart(7)} | ${rss.padEnd(34)} |`;
  console.log(
    `${JOBS} jobs, batches of ${BATCH}, ${CONCURRENCY} in flight, ${TRIALS} trials; ${report.machine.cpus} × ${report.machine.cpu}, load ${loadavg()[0].toFixed(2)}`,
  );
  console.log(`| ${'path'.padEnd(25)} | jobs/s  | p50 ms  | p99 ms  | ${'API RSS (idle / peak / after)'.padEnd(34)} |`);
  console.log(`| ${'-'.repeat(25)} | ------- | ------- | ------- | ${'-'.repeat(34)} |`);
  for (const { raw_add_bulk: raw, api, raw_over_api } of trials) {
    console.log(row('BullMQ addBulk (raw)', raw, '-'));
    console.log(
      row(
        'API POST /v1/jobs (batch)',
        api,
        `${mib(api.api_rss_idle_bytes)} / ${mib(api.api_rss_peak_bytes)} / ${mib(api.api_rss_after_bytes)}`,
      ),
    );
    console.log(`raw / API = ${raw_over_api.toFixed(2)}x`);
  }
  console.log(`median raw / API = ${ratio.toFixed(2)}x (${report.within_2x ? 'within' : 'NOT within'} 2x)`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
}

await main();
