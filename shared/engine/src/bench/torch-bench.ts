import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadModelDir, type LoadedModel } from '../model/model-dir.js';
import { writeModelDir } from '../model/write-model-dir.js';
import { referenceLogits } from '../reference/forward.js';
import { CompiledModel } from '../runtime/compiled-model.js';
import { syntheticState } from '../state/synthetic-state.js';
import { measureStep, WARM_UP, type ModelName } from './decode-step.js';
import { measureBandwidth } from './memory-bandwidth.js';
import { markdownTable } from './report.js';
import { kvBytesReadPerToken } from './roofline.js';

/**
 * The engine against the same model in plain PyTorch (`baselines/torch_sambay.py`: preallocated
 * head-major caches written in place, eager mode), on the same machine, in the same run, with the
 * same intra-op threads: decode step time over a grid of context x batch, both runtimes measured
 * point by point in turn and `rounds` times over (the least median counts, as in bench:decode).
 * Before any timing the baseline must compute the model: its logits over a prompt longer than the
 * sliding window are checked against the TypeScript reference (`PARITY_TOLERANCE`).
 */

const BASELINE = join(dirname(fileURLToPath(import.meta.url)), '../../baselines/torch_sambay.py');

/** Largest |logit difference| the baseline may have from the reference (f32 against f64 accumulation). */
const PARITY_TOLERANCE = 1e-3;

/** Prompt of the parity check: 16 tokens past the sliding window, so the rings wrap. */
const parityIds = (model: LoadedModel) =>
  Array.from({ length: model.config.slidingWindow + 16 }, (_, i) => (i * 37 + 11) % 256);

/** The first interpreter that imports torch: `--python`, else python3, else Debian's /usr/bin/python3. */
function findPython(preferred: string | undefined): string {
  const candidates = preferred ? [preferred] : ['python3', '/usr/bin/python3'];
  const found = candidates.find((python) => spawnSync(python, ['-c', 'import torch']).status === 0);
  if (!found)
    throw new Error(
      `no Python with PyTorch among ${candidates.join(', ')}: install it (Debian: apt-get install python3-torch libopenblas0-openmp) or pass --python`,
    );
  return found;
}

/** The baseline as a child process answering one JSON line per request line. */
class TorchBaseline {
  private constructor(
    private readonly child: ChildProcessByStdio<Writable, Readable, null>,
    private readonly lines: AsyncIterator<string>,
    readonly version: string,
    /** The BLAS libraries the baseline's process loaded (the reference BLAS makes it 5-20x slower). */
    readonly blas: string[],
  ) {}

  static async start(python: string, model: LoadedModel, threads: number): Promise<TorchBaseline> {
    const plan = {
      kinds: model.plan.layers.map((l) => l.kind),
      memory_layer: model.plan.memoryLayer,
      kv_source_layer: model.plan.kvSourceLayer,
    };
    const args = [BASELINE, '--model', model.dir, '--plan', JSON.stringify(plan), '--threads', String(threads)];
    // OpenMP's threads, which OpenBLAS's OpenMP build and torch's own ops both use.
    const env = { ...process.env, OMP_NUM_THREADS: String(threads) };
    const child = spawn(python, args, { stdio: ['pipe', 'pipe', 'inherit'], env });
    const iterator = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await iterator.next();
    const ready = (first.done ? {} : JSON.parse(first.value)) as { ready?: boolean; torch?: string; blas?: string[] };
    if (!ready.ready) throw new Error(`${BASELINE} did not start`);
    return new TorchBaseline(child, iterator, ready.torch!, ready.blas ?? []);
  }

  async request<T>(message: Record<string, unknown>): Promise<T> {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
    const line = await this.lines.next();
    if (line.done) throw new Error(`${BASELINE} exited`);
    const reply = JSON.parse(line.value) as T & { error?: string };
    if (reply.error) throw new Error(`${BASELINE}: ${reply.error}`);
    return reply;
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** Largest |difference| between the baseline's logits and the reference's at every prompt position. */
async function parityError(model: LoadedModel, torch: TorchBaseline): Promise<number> {
  const ids = parityIds(model);
  const { logits } = await torch.request<{ logits: number[][] }>({ cmd: 'logits', ids });
  const expected = referenceLogits(model, ids);
  return Math.max(...expected.map((row, p) => Math.max(...row.map((v, i) => Math.abs(v - logits[p]![i]!)))));
}

interface Contender {
  name: ModelName;
  model: LoadedModel;
  engine: CompiledModel;
  torch: TorchBaseline;
  parity: number;
}

interface Point {
  contender: Contender;
  context: number;
  batch: number;
  state: Uint8Array;
  engineMs: number;
  torchMs: number;
}

async function startContender(name: ModelName, o: Options, dir: string, python: string): Promise<Contender> {
  await writeModelDir(join(dir, name), { preset: o.preset, layerTypes: name });
  const model = await loadModelDir(join(dir, name));
  const engine = await CompiledModel.create(model, { intraOpThreads: o.threads });
  const torch = await TorchBaseline.start(python, model, o.threads);
  return { name, model, engine, torch, parity: await parityError(model, torch) };
}

/** No timing of a baseline that computes something else. */
function checkParity({ name, parity }: Contender): void {
  if (!(parity <= PARITY_TOLERANCE))
    throw new Error(
      `${name}: the PyTorch baseline's logits differ from the reference by ${parity} (tolerance ${PARITY_TOLERANCE})`,
    );
}

async function measure(p: Point, steps: number, round: number): Promise<void> {
  const engineMs = await measureStep(p.contender.engine, p.state, p.batch, steps);
  const request = { cmd: 'step', context: p.context, batch: p.batch, warmup: WARM_UP.steps, steps };
  const { ms: torchMs } = await p.contender.torch.request<{ ms: number }>(request);
  [p.engineMs, p.torchMs] = [Math.min(p.engineMs, engineMs), Math.min(p.torchMs, torchMs)];
  process.stderr.write(
    `${p.contender.name}: context ${p.context} batch ${p.batch}: engine ${engineMs.toFixed(2)} ms, PyTorch ${torchMs.toFixed(2)} ms (round ${round})\n`,
  );
}

function modelName(name: string): ModelName {
  if (name !== 'sambay' && name !== 'transformer')
    throw new Error(`--models: ${name} is neither sambay nor transformer`);
  return name;
}

interface Options {
  preset: string;
  models: ModelName[];
  contexts: number[];
  batches: number[];
  steps: number;
  rounds: number;
  threads: number;
}

const USAGE = `npm run bench:torch -- [--preset tiny] [--models sambay,transformer] [--contexts 512,32768]
  [--batches 1,16] [--steps 16] [--rounds 3] [--threads 1] [--python PATH] [--json FILE]
Needs PyTorch for some python3. Debian: apt-get install python3-torch libopenblas0-openmp (without
OpenBLAS its matmuls run on the reference BLAS); it is then found at /usr/bin/python3.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'string' },
      preset: { type: 'string', default: 'tiny' },
      models: { type: 'string', default: 'sambay,transformer' },
      contexts: { type: 'string', default: '512,32768' },
      batches: { type: 'string', default: '1,16' },
      steps: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '3' },
      threads: { type: 'string', default: '1' },
      python: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const o: Options = {
    preset: values.preset,
    models: values.models.split(',').map(modelName),
    contexts: values.contexts.split(',').map(Number),
    batches: values.batches.split(',').map(Number),
    steps: Number(values.steps),
    rounds: Number(values.rounds),
    threads: Number(values.threads),
  };
  const python = findPython(values.python);
  const bandwidth = await measureBandwidth(o.threads);
  const dir = await mkdtemp(join(tmpdir(), 'sambay-torch-bench-'));
  const contenders: Contender[] = [];
  try {
    for (const name of o.models) contenders.push(await startContender(name, o, dir, python));
    contenders.forEach(checkParity);
    const points = o.contexts.flatMap((context) =>
      contenders.flatMap((contender) => {
        const state = syntheticState(contender.model, context, 1);
        return o.batches.map((batch): Point => ({
          contender,
          context,
          batch,
          state,
          engineMs: Infinity,
          torchMs: Infinity,
        }));
      }),
    );
    for (let round = 1; round <= o.rounds; round++) for (const p of points) await measure(p, o.steps, round);
    report(points, o, bandwidth.gbps, contenders);
    if (values.json)
      await writeFile(values.json, `${JSON.stringify(jsonReport(points, o, bandwidth.gbps, contenders), null, 2)}\n`);
  } finally {
    for (const c of contenders) {
      c.torch.close();
      await c.engine.release();
    }
    await rm(dir, { recursive: true, force: true });
  }
}

const kvGbps = (p: Point, ms: number) =>
  (kvBytesReadPerToken(p.contender.model, p.context) * p.batch) / (ms / 1000) / 1e9;

function rows(points: Point[]) {
  return points.map((p) => ({
    model: p.contender.name,
    context: p.context,
    batch: p.batch,
    engine_ms_per_step: p.engineMs,
    torch_ms_per_step: p.torchMs,
    engine_speedup: p.torchMs / p.engineMs,
    kv_bytes_read_per_token: kvBytesReadPerToken(p.contender.model, p.context),
  }));
}

function jsonReport(points: Point[], o: Options, gbps: number, contenders: Contender[]) {
  return {
    memory_bandwidth_gbps: gbps,
    torch_version: contenders[0]?.torch.version,
    torch_blas: contenders[0]?.torch.blas,
    threads: o.threads,
    steps: o.steps,
    rounds: o.rounds,
    parity_max_abs_logit_diff: Object.fromEntries(contenders.map((c) => [c.name, c.parity])),
    results: rows(points),
  };
}

function report(points: Point[], o: Options, gbps: number, contenders: Contender[]): void {
  const percent = (p: Point, ms: number) =>
    `${kvGbps(p, ms).toFixed(1)} (${((100 * kvGbps(p, ms)) / gbps).toFixed(0)}%)`;
  const table = markdownTable(
    [
      'model',
      'context',
      'batch',
      'engine ms/step',
      'PyTorch ms/step',
      'engine speedup',
      'K/V GB/s engine',
      'K/V GB/s PyTorch',
    ],
    points.map((p) => [
      p.contender.name,
      String(p.context),
      String(p.batch),
      p.engineMs.toFixed(2),
      p.torchMs.toFixed(2),
      `${(p.torchMs / p.engineMs).toFixed(2)}x`,
      percent(p, p.engineMs),
      percent(p, p.torchMs),
    ]),
  );
  const parity = contenders.map((c) => `${c.name} ${c.parity.toExponential(1)}`).join(', ');
  process.stdout.write(
    `# engine against PyTorch ${contenders[0]?.torch.version} eager: preset ${o.preset}, ${o.threads} intra-op thread(s) each, ` +
      `per point the least of ${o.rounds} rounds' medians of ${o.steps} steps\n\n` +
      `PyTorch's BLAS: ${contenders[0]?.torch.blas.join(', ') || 'none loaded'}\n` +
      `memory bandwidth ${gbps.toFixed(1)} GB/s; PyTorch logits against the reference, largest difference: ${parity}\n\n${table}\n`,
  );
}

await main();
