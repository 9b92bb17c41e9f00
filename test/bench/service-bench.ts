// `npm run bench:service`: the same seeded jobs through the whole service (API + Redis + one worker +
// SSE) and through the engine in-process (loadScheduler on the same model directory), and a long
// prompt admitted while sequences decode (in-process). Prints tables; `--json FILE` writes them.
// Needs Redis at REDIS_URL (default redis://127.0.0.1:6379); uses its own key prefix and deletes it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeModelDir } from '@sambay/engine/model';
import { readServiceConfig } from '@sambay/protocol';
import { defaultIntraOpThreads } from '@sambay/worker/engine/intra-op-threads';
import { startApiProcess, type ApiProcess } from '../helpers/api-process.js';
import { presetModel } from '../helpers/models.js';
import { connectRedis, deleteKeys, testPrefix } from '../helpers/redis.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';
import {
  jobs,
  median,
  now,
  SAMPLING,
  sameTokens,
  summarize,
  type JobSpec,
  type RunResult,
  type TokenTimes,
} from './bench-jobs.js';
import { InProcessEngine, longPrompt } from './in-process-engine.js';
import { postJson, readEvents } from './light-http-client.js';

const jobBody = (j: JobSpec) => ({
  prompt: j.prompt,
  max_tokens: j.maxTokens,
  seed: j.seed,
  ignore_eos: true,
  ...SAMPLING,
});

/**
 * How a run's jobs reach the API: a POST each (independent clients), or all in one POST of
 * `{ jobs: [...] }` (one client submitting a batch, as the in-process engine gets them).
 */
type Submission = 'each' | 'batch';

async function post(api: ApiProcess, body: object): Promise<Record<string, unknown>> {
  const reply = await postJson(`${api.url}/v1/jobs`, body);
  if (reply.status !== 202) throw new Error(`POST /v1/jobs: ${reply.status} ${reply.text}`);
  return JSON.parse(reply.text) as Record<string, unknown>;
}

/** One job's SSE stream, timed at this client from `start`. */
async function followJob(api: ApiProcess, id: string, start: number): Promise<{ times: TokenTimes; ids: number[] }> {
  const times = { first: NaN, last: NaN };
  const ids: number[] = [];
  // The server ends the stream after `done`, which gives its connection back to the agent.
  await readEvents(`${api.url}/v1/jobs/${id}/events`, (event) => {
    if (event.event === 'tokens') {
      times.last = now() - start;
      if (Number.isNaN(times.first)) times.first = times.last;
      ids.push(...(JSON.parse(event.data) as { token_ids: number[] }).token_ids);
    } else if (event.event === 'error') throw new Error(`job ${id}: ${event.data}`);
    return event.event === 'done';
  });
  return { times, ids };
}

async function serviceRun(api: ApiProcess, specs: JobSpec[], submission: Submission = 'each'): Promise<RunResult> {
  const start = now();
  const batch =
    submission === 'batch'
      ? ((await post(api, { jobs: specs.map(jobBody) })).jobs as { id: string }[]).map((j) => j.id)
      : null;
  const results = await Promise.all(
    specs.map(async (j, i) => followJob(api, batch ? batch[i]! : ((await post(api, jobBody(j))).id as string), start)),
  );
  const times = new Map(specs.map((j, i) => [j.id, results[i]!.times]));
  const ids = new Map(specs.map((j, i) => [j.id, results[i]!.ids]));
  return summarize(specs, times, ids);
}

const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  );

const USAGE = `npm run bench:service -- [--jobs 8] [--tokens 256] [--repeats 3] [--long-prompt 16384]
  [--decoders 8] [--threads N] [--prefill-chunk N] [--skip-service] [--json FILE]
--threads: ORT intra-op threads of the worker and of the in-process engine alike (default: the
  worker's, WORKER_INTRA_OP_THREADS).
--prefill-chunk: prefill tokens between two decode steps, for both alike (default: the worker's,
  WORKER_PREFILL_CHUNK_TOKENS): larger admits a burst of jobs in fewer rounds and widens the long
  prompt's token gap.
Needs a built tree (npm run build) and Redis at REDIS_URL.`;

/** A metric over the repeats: the best (what the tables compare) and the spread. */
interface Spread {
  best: number;
  min: number;
  max: number;
  all: number[];
}

function spread(values: number[], better: 'higher' | 'lower'): Spread {
  const min = Math.min(...values);
  const max = Math.max(...values);
  return { best: better === 'higher' ? max : min, min, max, all: values };
}

/** One side's repeats of one configuration, metric by metric. */
function side(runs: RunResult[]) {
  return {
    tokensPerSecond: spread(
      runs.map((r) => r.tokensPerSecond),
      'higher',
    ),
    ttftMs: spread(
      runs.map((r) => median(r.ttftMs)),
      'lower',
    ),
    tpotMs: spread(
      runs.map((r) => median(r.tpotMs)),
      'lower',
    ),
  };
}

const range = (x: Spread, digits: number) => `${x.min.toFixed(digits)}–${x.max.toFixed(digits)}`;
const slower = (engine: number, service: number) => (100 * (engine - service)) / engine;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '8' },
      tokens: { type: 'string', default: '256' },
      repeats: { type: 'string', default: '3' },
      'long-prompt': { type: 'string', default: '16384' },
      decoders: { type: 'string', default: '8' },
      threads: { type: 'string' },
      'prefill-chunk': { type: 'string' },
      'skip-service': { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const count = Number(values.jobs);
  const maxTokens = Number(values.tokens);
  const repeats = Number(values.repeats);
  // The engine's own speed is measured with the threads the worker's engine gets, not ORT's default:
  // on a small machine one thread is the faster engine as well as the one that leaves a core free.
  const workerConfig = readServiceConfig({
    WORKER_INTRA_OP_THREADS: process.env.WORKER_INTRA_OP_THREADS,
    WORKER_PREFILL_CHUNK_TOKENS: process.env.WORKER_PREFILL_CHUNK_TOKENS,
  });
  const threads = Number(
    values.threads ?? workerConfig.WORKER_INTRA_OP_THREADS ?? defaultIntraOpThreads(presetModel('tiny')),
  );
  const chunk = Number(values['prefill-chunk'] ?? workerConfig.WORKER_PREFILL_CHUNK_TOKENS);
  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? '?', loadavg_start: loadavg() };
  const modelDir = await mkdtemp(join(tmpdir(), 'sambay-bench-model-'));
  const prefix = testPrefix();
  const redis = connectRedis();
  const processes: (ApiProcess | WorkerProcess)[] = [];
  try {
    await writeModelDir(modelDir, { preset: 'tiny', seed: 0 });
    // The engine in-process and the service (API + Redis + one worker, read over SSE), run in turns
    // so that load from other processes hits both alike; the best run of each counts.
    const engine = await InProcessEngine.create(modelDir, count, threads, chunk);
    await engine.run(jobs(1, 8, 'warm')); // ORT sessions warm up on their first runs
    let api: ApiProcess | undefined;
    if (!values['skip-service']) {
      const env = {
        QUEUE_PREFIX: prefix,
        MODEL_DIR: modelDir,
        WORKER_MAX_SEQUENCES: String(count),
        WORKER_INTRA_OP_THREADS: String(threads),
        WORKER_PREFILL_CHUNK_TOKENS: String(chunk),
        LOG_LEVEL: 'info',
      };
      processes.push(await startWorkerProcess(env));
      api = await startApiProcess(env);
      processes.push(api);
      await serviceRun(api, jobs(1, 8, 'warm'));
    }
    // Each run starts once the last one's after-work (the worker and API finishing a job) is over,
    // so neither side pays for the other's.
    const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
    const both = async (n: number, submission: Submission = 'each') => {
      const e: RunResult[] = [];
      const s: RunResult[] = [];
      for (let r = 0; r < repeats; r++) {
        await settle();
        e.push(await engine.run(jobs(n, maxTokens, `e${n}-${r}`)));
        await settle();
        if (api) s.push(await serviceRun(api, jobs(n, maxTokens, `s${n}-${r}`), submission));
      }
      const same = s.every((run, i) => sameTokens(e[i]!, run));
      return { e: side(e), s: api ? side(s) : undefined, same };
    };
    const single = await both(1);
    const all = await both(count);
    const batched = await both(count, 'batch');
    process.stderr.write(
      `engine: ${all.e.tokensPerSecond.best.toFixed(0)} tokens/s, service: ${all.s?.tokensPerSecond.best.toFixed(0) ?? '-'}\n`,
    );

    // --- a long prompt admitted while sequences decode (in-process, 9 slots) ---
    const longEngine = await InProcessEngine.create(modelDir, Number(values.decoders) + 1, threads, chunk);
    await longEngine.run(jobs(1, 8, 'warm'));
    const long = await longPrompt(longEngine, Number(values['long-prompt']), Number(values.decoders));
    await Promise.all([engine.scheduler.close(), longEngine.scheduler.close()]);

    const rows: string[][] = [];
    const spreadRows: string[][] = [];
    const report: Record<string, unknown> = {
      machine: { ...machine, loadavg_end: loadavg() },
      jobs: count,
      max_tokens: maxTokens,
      repeats,
      intra_op_threads: threads,
      prefill_chunk_tokens: chunk,
    };
    const runs = [
      ['1 job', single],
      [`${count} jobs`, all],
      [`${count} jobs, one request`, batched],
    ] as const;
    const throughput: Record<string, unknown>[] = [];
    for (const [name, { e, s, same }] of runs) {
      const overhead = s ? slower(e.tokensPerSecond.best, s.tokensPerSecond.best) : NaN;
      const added = s ? s.ttftMs.best - e.ttftMs.best : NaN;
      rows.push([
        name,
        e.tokensPerSecond.best.toFixed(0),
        s ? s.tokensPerSecond.best.toFixed(0) : '-',
        s ? `${overhead.toFixed(1)}%` : '-',
        e.ttftMs.best.toFixed(1),
        s ? s.ttftMs.best.toFixed(1) : '-',
        s ? added.toFixed(1) : '-',
        `${e.tpotMs.best.toFixed(3)} / ${s ? s.tpotMs.best.toFixed(3) : '-'}`,
        s ? String(same) : '-',
      ]);
      spreadRows.push([
        name,
        range(e.tokensPerSecond, 0),
        s ? range(s.tokensPerSecond, 0) : '-',
        range(e.ttftMs, 1),
        s ? range(s.ttftMs, 1) : '-',
      ]);
      throughput.push({
        run: name,
        engine_tokens_per_second: e.tokensPerSecond.best,
        service_tokens_per_second: s?.tokensPerSecond.best ?? null,
        overhead_percent: s ? overhead : null,
        engine_ttft_ms: e.ttftMs.best,
        service_ttft_ms: s ? s.ttftMs.best : null,
        added_ttft_ms: s ? added : null,
        engine_tpot_ms: e.tpotMs.best,
        service_tpot_ms: s ? s.tpotMs.best : null,
        same_tokens: s ? same : null,
        repeats: { engine: e, service: s ?? null },
      });
    }
    report.throughput = throughput;
    report.long_prompt = long;
    process.stdout.write(
      `# service benchmark: preset tiny, ${count} jobs x ${maxTokens} tokens (ignore_eos), best of ${repeats}, ` +
        `${threads} intra-op thread(s), prefill chunks of ${chunk} tokens\n` +
        `machine: ${machine.nproc} x ${machine.cpu}, load ${machine.loadavg_start.map((l) => l.toFixed(2)).join(' ')} ` +
        `-> ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}\n\n` +
        `${table(
          [
            'run',
            'engine tokens/s',
            'service tokens/s (client)',
            'service overhead',
            'engine TTFT ms (prefill)',
            'service TTFT ms (SSE client)',
            'added ms',
            'ms per later token, engine / service',
            'same tokens',
          ],
          rows,
        )}\n\n` +
        `Spread over the ${repeats} repeats (min–max):\n\n` +
        `${table(
          ['run', 'engine tokens/s', 'service tokens/s', 'engine TTFT ms', 'service TTFT ms'],
          spreadRows,
        )}\n\n` +
        `${table(
          [
            'long prompt',
            'decoding',
            'prefill alone ms',
            'first token while decoding ms',
            'decode step before ms',
            'max token gap ms',
          ],
          [
            [
              String(long.prompt_tokens),
              String(long.decoding_sequences),
              long.prefill_alone_ms.toFixed(0),
              long.first_token_while_decoding_ms.toFixed(0),
              long.decode_step_before_ms.toFixed(2),
              long.max_token_gap_ms.toFixed(1),
            ],
          ],
        )}\n`,
    );
    if (values.json) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    for (const p of processes.reverse()) await p.stop();
    await deleteKeys(redis, prefix);
    redis.disconnect();
    await rm(modelDir, { recursive: true, force: true });
  }
}

await main();
