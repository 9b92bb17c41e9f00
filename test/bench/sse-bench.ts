// `npm run bench:sse`: many SSE followers on one API process. Starts the built API (no worker: the
// benchmark writes each job's `tokens` events itself, as a worker's stream writer would), opens
// `--followers` SSE streams over `--jobs` queued jobs, then for `--rounds` rounds XADDs one event to
// every job's stream per `--interval-ms`, in pipelines of `--group` jobs (one worker's flush) spread
// evenly over the interval. Reports the API's Redis connections and
// blocked XREADs, its RSS and CPU, and the delivery latency of each event from its XADD (the entry id's
// time, Redis' clock) to its arrival at the client (same machine, same clock), and the Redis server's
// CPU. Prints a table; `--json FILE` writes the numbers. Redis: REDIS_URL, else as the tests choose
// (test/README.md: with redis-server on PATH, one of the benchmark's own, so its CPU is all ours).
//   npm run bench:sse -- [--followers 2000] [--jobs 2000] [--rounds 20] [--interval-ms 500] [--group 32]
//                        [--json FILE]
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request, type ClientRequest } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { encodeStreamEvent, QueueKeys } from '@sambay/protocol';
import { startApiProcess, type ApiProcess } from '../helpers/api-process.js';
import { postJson } from '../helpers/http.js';
import { scrape } from '../helpers/prometheus-text.js';
import { processClients } from '../helpers/redis-clients.js';
import { connectRedis, deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis.js';
import { SseParser } from '../helpers/sse-client.js';
import { waitFor } from '../helpers/wait.js';

const { values: args } = parseArgs({
  options: {
    followers: { type: 'string', default: '2000' },
    jobs: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '20' },
    'interval-ms': { type: 'string', default: '500' },
    group: { type: 'string', default: '32' },
    json: { type: 'string' },
  },
});
const FOLLOWERS = Number(args.followers);
const JOBS = Number(args.jobs);
const ROUNDS = Number(args.rounds);
const INTERVAL_MS = Number(args['interval-ms']);
const GROUP = Number(args.group);
/** Jobs per POST /v1/jobs (MAX_BATCH_JOBS). */
const BATCH = 256;
/** /proc/<pid>/stat counts CPU time in clock ticks (`getconf CLK_TCK`, 100 on Linux). */
const CLOCK_TICKS = 100;

const wallMs = () => performance.timeOrigin + performance.now();
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const print = (line: string) => process.stdout.write(`${line}\n`);
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

async function procStatus(pid: number): Promise<{ rssBytes: number; cpuSeconds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  // After the command: state is field 3; utime and stime are fields 14 and 15.
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { rssBytes: Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024, cpuSeconds: ticks / CLOCK_TICKS };
}

/** One SSE client on a bare HTTP request: records, per `tokens` event, the delay since its entry was added. */
class Follower {
  readonly latenciesMs: number[] = [];
  statusSeen = false;
  private readonly parser = new SseParser();
  private readonly req: ClientRequest;

  constructor(url: string) {
    this.req = request(url, { headers: { accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        const now = wallMs();
        for (const event of this.parser.feed(text)) {
          if (event.event === 'status') this.statusSeen = true;
          // The entry id's first part is the time Redis added it (ms).
          if (event.event === 'tokens') this.latenciesMs.push(now - Number(event.id!.split('-')[0]));
        }
      });
    });
    this.req.on('error', () => undefined);
    this.req.end();
  }

  close(): void {
    this.req.destroy();
  }
}

async function submitJobs(api: ApiProcess): Promise<string[]> {
  const ids: string[] = [];
  for (let first = 0; first < JOBS; first += BATCH) {
    const jobs = Array.from({ length: Math.min(BATCH, JOBS - first) }, (_, k) => ({ prompt: `follow ${first + k}` }));
    const res = await postJson<{ jobs: { id: string }[] }>(`${api.url}/v1/jobs`, { jobs });
    if (res.status !== 202) throw new Error(`POST /v1/jobs: ${res.status} ${JSON.stringify(res.body)}`);
    ids.push(...res.body.jobs.map((j) => j.id));
  }
  return ids;
}

/** CPU seconds the Redis server has used (INFO cpu): with a Redis of the benchmark's own, all of it is the benchmark's. */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** What Redis sees of the API process: its connections, and how many are blocked in XREAD. */
async function connectionsOf(redis: Redis, pid: number) {
  const clients = await processClients(redis, pid);
  return { connections: clients.length, blockedXreads: clients.filter((c) => c.includes('cmd=xread')).length };
}

/**
 * Writes ROUNDS rounds of one `tokens` event per job, as workers' stream writers do: each group of
 * GROUP jobs (one worker's sequences) is one pipeline, and the groups' writes are spread evenly over
 * each interval, since workers flush independently of each other.
 */
async function writeRounds(redis: Redis, keys: QueueKeys, ids: string[]): Promise<number> {
  const groups = Array.from({ length: Math.ceil(ids.length / GROUP) }, (_, g) => ids.slice(g * GROUP, (g + 1) * GROUP));
  const slotMs = INTERVAL_MS / groups.length;
  const start = Date.now();
  let written = 0;
  for (let round = 0; round < ROUNDS; round += 1) {
    const event = encodeStreamEvent({ type: 'tokens', index: round, token_ids: [round], text: 'x' });
    for (const [g, group] of groups.entries()) {
      await sleep(Math.max(0, start + round * INTERVAL_MS + g * slotMs - Date.now()));
      const pipe = redis.pipeline();
      for (const id of group) pipe.xadd(keys.jobStream(id), '*', ...event);
      void pipe.exec();
      written += group.length;
    }
  }
  await redis.ping(); // the last pipelines have been answered
  return written;
}

async function main(): Promise<void> {
  const prefix = testPrefix();
  const keys = new QueueKeys(prefix);
  const redis = connectRedis();
  const modelDir = await mkdtemp(join(tmpdir(), 'sambay-bench-sse-'));
  // All the API reads of a model: its config (the byte-level tokenizer counts prompt tokens).
  await writeFile(join(modelDir, 'config.json'), JSON.stringify({ model_type: 'phi4flash', vocab_size: 258 }));
  // Info: the port is read from the 'api listening' line; requests are logged only as they end.
  const api = await startApiProcess({ QUEUE_PREFIX: prefix, MODEL_DIR: modelDir });
  const pid = api.child.pid!;
  const followers: Follower[] = [];
  try {
    const ids = await submitJobs(api);
    const idle = { ...(await procStatus(pid)), ...(await connectionsOf(redis, pid)) };
    for (let i = 0; i < FOLLOWERS; i += 1) followers.push(new Follower(`${api.url}/v1/jobs/${ids[i % JOBS]}/events`));
    await waitFor('every follower to get its first event', () => followers.every((f) => f.statusSeen), {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    await waitFor(
      'the shared reader to follow every job',
      async () =>
        (await scrape(`${api.url}/metrics`)).value('sambay:sse_followed_streams') === Math.min(JOBS, FOLLOWERS),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const following = { ...(await procStatus(pid)), ...(await connectionsOf(redis, pid)) };

    let peakRss = following.rssBytes;
    const sampler = setInterval(() => {
      void procStatus(pid).then((s) => (peakRss = Math.max(peakRss, s.rssBytes)));
    }, 100);
    const t0 = wallMs();
    const redisCpu0 = await redisCpuSeconds(redis);
    const written = await writeRounds(redis, keys, ids);
    const expected = FOLLOWERS * ROUNDS;
    await waitFor('every event to arrive', () => followers.reduce((n, f) => n + f.latenciesMs.length, 0) >= expected, {
      timeoutMs: 120_000,
      intervalMs: 50,
    });
    const seconds = (wallMs() - t0) / 1000;
    const redisCpuPercent = (100 * ((await redisCpuSeconds(redis)) - redisCpu0)) / seconds;
    clearInterval(sampler);
    const streaming = { ...(await procStatus(pid)), ...(await connectionsOf(redis, pid)) };
    const latencies = followers.flatMap((f) => f.latenciesMs).sort((a, b) => a - b);
    const cpuPercent = (100 * (streaming.cpuSeconds - following.cpuSeconds)) / seconds;
    const report = {
      machine: {
        cpus: cpus().length,
        cpu: cpus()[0]?.model ?? 'unknown',
        load_average: loadavg(),
        node: process.version,
      },
      settings: {
        followers: FOLLOWERS,
        jobs: JOBS,
        rounds: ROUNDS,
        interval_ms: INTERVAL_MS,
        group: GROUP,
        redis: REDIS_URL,
      },
      idle: { api_rss_bytes: idle.rssBytes, redis_connections: idle.connections, blocked_xreads: idle.blockedXreads },
      following: {
        api_rss_bytes: following.rssBytes,
        redis_connections: following.connections,
        blocked_xreads: following.blockedXreads,
      },
      streaming: {
        seconds,
        entries_written: written,
        events_delivered: latencies.length,
        events_per_second: latencies.length / seconds,
        api_cpu_percent: cpuPercent,
        api_cpu_ms_per_1000_events: (1e6 * (streaming.cpuSeconds - following.cpuSeconds)) / latencies.length,
        api_rss_peak_bytes: peakRss,
        redis_cpu_percent: redisCpuPercent,
        latency_ms_p50: quantile(latencies, 0.5),
        latency_ms_p99: quantile(latencies, 0.99),
        latency_ms_max: latencies.at(-1)!,
      },
    };
    print(
      `${FOLLOWERS} SSE followers over ${JOBS} jobs on one API process; ${ROUNDS} rounds, one event per job every ${INTERVAL_MS} ms in pipelines of ${GROUP}; ` +
        `${report.machine.cpus} × ${report.machine.cpu}, load ${loadavg()[0]!.toFixed(2)}`,
    );
    print(
      '| phase     | Redis connections | blocked XREADs | API RSS      | API CPU | events/s | latency p50 / p99 / max ms |',
    );
    print(
      '| --------- | ----------------- | -------------- | ------------ | ------- | -------- | -------------------------- |',
    );
    const row = (phase: string, s: { connections: number; blockedXreads: number }, rss: string, rest: string) =>
      print(
        `| ${phase.padEnd(9)} | ${String(s.connections).padStart(17)} | ${String(s.blockedXreads).padStart(14)} | ${rss.padStart(12)} | ${rest} |`,
      );
    row('idle', idle, mib(idle.rssBytes), `${'-'.padStart(7)} | ${'-'.padStart(8)} | ${'-'.padStart(26)}`);
    row(
      'following',
      following,
      mib(following.rssBytes),
      `${'-'.padStart(7)} | ${'-'.padStart(8)} | ${'-'.padStart(26)}`,
    );
    const s = report.streaming;
    row(
      'streaming',
      streaming,
      `${mib(s.api_rss_peak_bytes)} pk`,
      `${`${cpuPercent.toFixed(0)}%`.padStart(7)} | ${s.events_per_second.toFixed(0).padStart(8)} | ${`${s.latency_ms_p50.toFixed(1)} / ${s.latency_ms_p99.toFixed(1)} / ${s.latency_ms_max.toFixed(1)}`.padStart(26)}`,
    );
    print(
      `API CPU ${s.api_cpu_ms_per_1000_events.toFixed(0)} ms per 1000 events delivered; Redis CPU ${redisCpuPercent.toFixed(0)}% ` +
        `(all of the server's, shared with anything else using it)`,
    );
    if (args.json) await writeFile(args.json, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    for (const follower of followers) follower.close();
    await api.stop();
    await deleteKeys(redis, prefix);
    await redis.quit();
    await rm(modelDir, { recursive: true, force: true });
  }
}

await main();
