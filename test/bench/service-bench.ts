// `npm run bench:service`: the same seeded jobs through the whole service (API + Redis + one worker +
// SSE) and through the engine in-process (loadScheduler on the same model directory), and a long
// prompt admitted while sequences decode (in-process). Prints tables; `--json FILE` writes them.
// Needs Redis at REDIS_URL (default redis://127.0.0.1:6379); uses its own key prefix and deletes it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadScheduler, type GenerationEvent, type GenerationRequest } from '@sambay/engine';
import { writeModelDir } from '@sambay/engine/model';
import { startApiProcess, type ApiProcess } from '../helpers/api-process.js';
import { connectRedis, deleteKeys, testPrefix } from '../helpers/redis.js';
import { openSse } from '../helpers/sse-client.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

interface JobSpec {
  id: string;
  prompt: string;
  maxTokens: number;
  seed: number;
}

/** One run of a set of jobs submitted together: per job its first-token time and tokens. */
interface RunResult {
  wallMs: number;
  tokens: number;
  tokensPerSecond: number;
  ttftMs: number[]; // per job, from submission
  tokenIds: Map<string, number[]>;
}

const now = () => performance.now();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const SAMPLING = { temperature: 0.8, top_p: 1, top_k: 0 };

function jobs(count: number, maxTokens: number, tag: string): JobSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${tag}-${i}`,
    prompt: `Job ${i}: the quick brown fox jumps over the lazy dog, and then it writes a story about`,
    maxTokens,
    seed: 1000 + i,
  }));
}

const engineRequest = (j: JobSpec): GenerationRequest => ({
  id: j.id,
  prompt: j.prompt,
  maxTokens: j.maxTokens,
  sampling: { temperature: SAMPLING.temperature, topP: SAMPLING.top_p, topK: SAMPLING.top_k, seed: j.seed },
  stop: [],
  ignoreEos: true,
});

/** The engine in-process, as the worker's engine thread runs it (same options, default threads). */
class InProcessEngine {
  private constructor(
    readonly scheduler: Awaited<ReturnType<typeof loadScheduler>>,
    private readonly listeners: Set<(event: GenerationEvent, at: number) => void>,
  ) {}

  static async create(modelDir: string, maxSequences: number): Promise<InProcessEngine> {
    const listeners = new Set<(event: GenerationEvent, at: number) => void>();
    const scheduler = await loadScheduler(modelDir, {
      maxSequences,
      onEvent: (event) => {
        const at = now();
        for (const listener of listeners) listener(event, at);
      },
    });
    return new InProcessEngine(scheduler, listeners);
  }

  listen(listener: (event: GenerationEvent, at: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async run(specs: JobSpec[]): Promise<RunResult> {
    const start = now();
    const first = new Map<string, number>();
    const tokenIds = new Map<string, number[]>(specs.map((j) => [j.id, []]));
    let left = specs.length;
    const done = new Promise<void>((resolve, reject) => {
      const stop = this.listen((event, at) => {
        if (!tokenIds.has(event.id)) return;
        if (event.type === 'tokens') {
          if (!first.has(event.id)) first.set(event.id, at - start);
          tokenIds.get(event.id)!.push(...event.tokenIds);
        } else if (event.type === 'failed') reject(new Error(event.message));
        else if (event.type === 'finished' && --left === 0) {
          stop();
          resolve();
        }
      });
    });
    for (const j of specs) this.scheduler.submit(engineRequest(j));
    await done;
    return summarize(now() - start, specs, first, tokenIds);
  }
}

function summarize(
  wallMs: number,
  specs: JobSpec[],
  first: Map<string, number>,
  ids: Map<string, number[]>,
): RunResult {
  const tokens = [...ids.values()].reduce((sum, t) => sum + t.length, 0);
  return {
    wallMs,
    tokens,
    tokensPerSecond: tokens / (wallMs / 1000),
    ttftMs: specs.map((j) => first.get(j.id) ?? NaN),
    tokenIds: ids,
  };
}

/** One job through POST /v1/jobs and its SSE stream, timed at this client. */
async function serviceJob(
  api: ApiProcess,
  j: JobSpec,
  start: number,
): Promise<{ ttft: number; ids: number[]; end: number }> {
  const reply = await fetch(`${api.url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: j.prompt, max_tokens: j.maxTokens, seed: j.seed, ignore_eos: true, ...SAMPLING }),
  });
  if (reply.status !== 202) throw new Error(`POST /v1/jobs: ${reply.status} ${await reply.text()}`);
  const { id } = (await reply.json()) as { id: string };
  const stream = await openSse(`${api.url}/v1/jobs/${id}/events`, { timeoutMs: 600_000 });
  let ttft = NaN;
  const ids: number[] = [];
  try {
    for (let event = await stream.next(); event; event = await stream.next()) {
      if (event.event === 'tokens') {
        if (Number.isNaN(ttft)) ttft = now() - start;
        ids.push(...(JSON.parse(event.data) as { token_ids: number[] }).token_ids);
      } else if (event.event === 'error') throw new Error(`job ${id}: ${event.data}`);
      else if (event.event === 'done') break;
    }
  } finally {
    stream.close();
  }
  return { ttft, ids, end: now() };
}

async function serviceRun(api: ApiProcess, specs: JobSpec[]): Promise<RunResult> {
  const start = now();
  const results = await Promise.all(specs.map((j) => serviceJob(api, j, start)));
  const first = new Map(specs.map((j, i) => [j.id, results[i]!.ttft]));
  const ids = new Map(specs.map((j, i) => [j.id, results[i]!.ids]));
  return summarize(Math.max(...results.map((r) => r.end)) - start, specs, first, ids);
}

const sameTokens = (a: RunResult, b: RunResult) =>
  [...a.tokenIds.values()].every((ids, i) => JSON.stringify(ids) === JSON.stringify([...b.tokenIds.values()][i]));

/**
 * A long prompt submitted while `decoders` sequences decode: the largest gap between two tokens of a
 * running sequence while it is prefilled, and its first-token time against the same prompt alone.
 */
async function longPrompt(engine: InProcessEngine, promptTokens: number, decoders: number) {
  // The byte tokenizer gives a token per character (plus BOS), so this prompt is promptTokens long.
  const prompt = 'abcdefghij klmnopqrst uvwxyz. '.repeat(Math.ceil(promptTokens / 30)).slice(0, promptTokens - 1);
  const long = (id: string): GenerationRequest => ({ ...engineRequest({ id, prompt, maxTokens: 1, seed: 7 }) });
  // Alone: its prefill at full speed (the time to its first token with nothing else running).
  const alone = await new Promise<number>((resolve, reject) => {
    const start = now();
    const stop = engine.listen((event, at) => {
      if (event.id !== 'long-alone') return;
      if (event.type === 'failed') reject(new Error(event.message));
      if (event.type === 'tokens') {
        stop();
        resolve(at - start);
      }
    });
    engine.scheduler.submit(long('long-alone'));
  });
  // Wait for the alone request to finish before starting the mixed run.
  await new Promise((resolve) => setTimeout(resolve, 50));

  const runners = jobs(decoders, 1_000_000, 'runner');
  const times = new Map<string, number[]>(runners.map((j) => [j.id, []]));
  let submittedAt = 0;
  let firstAt = 0;
  const mixed = new Promise<void>((resolve, reject) => {
    const stop = engine.listen((event, at) => {
      if (event.type === 'failed') reject(new Error(event.message));
      if (event.type !== 'tokens') return;
      times.get(event.id)?.push(at);
      if (submittedAt === 0 && [...times.values()].every((t) => t.length >= 8)) {
        submittedAt = now();
        engine.scheduler.submit(long('long-mixed'));
      }
      if (event.id === 'long-mixed') {
        firstAt = at;
        stop();
        resolve();
      }
    });
  });
  for (const j of runners) engine.scheduler.submit(engineRequest(j));
  await mixed;
  for (const j of runners) engine.scheduler.cancel(j.id);
  // Gaps between consecutive tokens of each running sequence while the long prompt was prefilled.
  let maxGap = 0;
  const steady: number[] = [];
  for (const t of times.values())
    for (let i = 1; i < t.length; i++) {
      const gap = t[i]! - t[i - 1]!;
      if (t[i]! > submittedAt && t[i - 1]! < firstAt) maxGap = Math.max(maxGap, gap);
      if (t[i]! <= submittedAt) steady.push(gap);
    }
  await new Promise((resolve) => setTimeout(resolve, 200)); // let the cancellations land
  return {
    prompt_tokens: promptTokens,
    decoding_sequences: decoders,
    prefill_alone_ms: alone,
    first_token_while_decoding_ms: firstAt - submittedAt,
    decode_step_before_ms: median(steady),
    max_token_gap_ms: maxGap,
  };
}

const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  );

const USAGE = `npm run bench:service -- [--jobs 8] [--tokens 256] [--repeats 3] [--long-prompt 16384]
  [--decoders 8] [--skip-service] [--json FILE]
Needs a built tree (npm run build) and Redis at REDIS_URL.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '8' },
      tokens: { type: 'string', default: '256' },
      repeats: { type: 'string', default: '3' },
      'long-prompt': { type: 'string', default: '16384' },
      decoders: { type: 'string', default: '8' },
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
  const machine = { nproc: cpus().length, cpu: cpus()[0]?.model ?? '?', loadavg_start: loadavg() };
  const modelDir = await mkdtemp(join(tmpdir(), 'sambay-bench-model-'));
  const prefix = testPrefix();
  const redis = connectRedis();
  const processes: (ApiProcess | WorkerProcess)[] = [];
  try {
    await writeModelDir(modelDir, { preset: 'tiny', seed: 0 });
    // The engine in-process and the service (API + Redis + one worker, read over SSE), run in turns
    // so that load from other processes hits both alike; the best run of each counts.
    const engine = await InProcessEngine.create(modelDir, count);
    await engine.run(jobs(1, 8, 'warm')); // ORT sessions warm up on their first runs
    let api: ApiProcess | undefined;
    if (!values['skip-service']) {
      const env = { QUEUE_PREFIX: prefix, MODEL_DIR: modelDir, WORKER_MAX_SEQUENCES: String(count), LOG_LEVEL: 'info' };
      processes.push(await startWorkerProcess(env));
      api = await startApiProcess(env);
      processes.push(api);
      await serviceRun(api, jobs(1, 8, 'warm'));
    }
    const both = async (n: number) => {
      const e: RunResult[] = [];
      const s: RunResult[] = [];
      for (let r = 0; r < repeats; r++) {
        e.push(await engine.run(jobs(n, maxTokens, `e${n}-${r}`)));
        if (api) s.push(await serviceRun(api, jobs(n, maxTokens, `s${n}-${r}`)));
      }
      const top = (rs: RunResult[]) => rs.reduce((x, y) => (y.tokensPerSecond > x.tokensPerSecond ? y : x));
      return { e: top(e), s: api ? top(s) : undefined };
    };
    const { e: engineSingle, s: serviceSingle } = await both(1);
    const { e: engineAll, s: serviceAll } = await both(count);
    process.stderr.write(
      `engine: ${engineAll.tokensPerSecond.toFixed(0)} tokens/s, service: ${serviceAll?.tokensPerSecond.toFixed(0) ?? '-'}\n`,
    );

    // --- a long prompt admitted while sequences decode (in-process, 9 slots) ---
    const longEngine = await InProcessEngine.create(modelDir, Number(values.decoders) + 1);
    await longEngine.run(jobs(1, 8, 'warm'));
    const long = await longPrompt(longEngine, Number(values['long-prompt']), Number(values.decoders));
    await Promise.all([engine.scheduler.close(), longEngine.scheduler.close()]);

    const rows: string[][] = [];
    const report: Record<string, unknown> = {
      machine: { ...machine, loadavg_end: loadavg() },
      jobs: count,
      max_tokens: maxTokens,
    };
    const runs = [
      ['1 job', engineSingle, serviceSingle],
      [`${count} jobs`, engineAll, serviceAll],
    ] as const;
    const throughput: Record<string, unknown>[] = [];
    for (const [name, e, s] of runs) {
      const overhead = s ? (100 * (e.tokensPerSecond - s.tokensPerSecond)) / e.tokensPerSecond : NaN;
      const ttftE = median(e.ttftMs);
      const ttftS = s ? median(s.ttftMs) : NaN;
      rows.push([
        name,
        e.tokensPerSecond.toFixed(0),
        s ? s.tokensPerSecond.toFixed(0) : '-',
        s ? `${overhead.toFixed(1)}%` : '-',
        ttftE.toFixed(1),
        s ? ttftS.toFixed(1) : '-',
        s ? (ttftS - ttftE).toFixed(1) : '-',
        s ? String(sameTokens(e, s)) : '-',
      ]);
      throughput.push({
        run: name,
        engine_tokens_per_second: e.tokensPerSecond,
        service_tokens_per_second: s?.tokensPerSecond ?? null,
        overhead_percent: s ? overhead : null,
        engine_ttft_ms: ttftE,
        service_ttft_ms: s ? ttftS : null,
        same_tokens: s ? sameTokens(e, s) : null,
      });
    }
    report.throughput = throughput;
    report.long_prompt = long;
    process.stdout.write(
      `# service benchmark: preset tiny, ${count} jobs x ${maxTokens} tokens (ignore_eos), best of ${repeats}\n` +
        `machine: ${machine.nproc} x ${machine.cpu}, load ${machine.loadavg_start.map((l) => l.toFixed(2)).join(' ')} ` +
        `-> ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}\n\n` +
        `${table(
          [
            'run',
            'engine tokens/s',
            'service tokens/s',
            'service overhead',
            'engine TTFT ms (= prefill + 1 step)',
            'service TTFT ms (SSE client)',
            'added ms',
            'same tokens',
          ],
          rows,
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
