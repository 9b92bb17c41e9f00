import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseConfig } from '../model/config.js';
import { initWeights } from '../model/init-weights.js';
import { planLayers } from '../model/layer-plan.js';
import type { ModelSpec } from '../model/model-spec.js';
import { presetConfig, transformerLayerTypes } from '../model/presets.js';
import { CompiledModel } from '../runtime/compiled-model.js';
import { stateByteSize, stateLayout } from '../state/state-layout.js';
import { syntheticState } from '../state/synthetic-state.js';
import { measureStep, type ModelName } from './decode-step.js';
import { measureBandwidth, type Bandwidth } from './memory-bandwidth.js';
import { formatBytes, markdownTable, median, timeMs } from './report.js';
import { describeGemm, measureGemmGflops, roofline, tokenWork, type GemmRate } from './roofline.js';

/**
 * SambaY against a Transformer of the same width and depth, built by the same code: decode step
 * time over a grid of context x batch, the K/V bytes each token must read, and the machine's
 * memory bandwidth measured in the same run; plus prefill throughput.
 *
 * Decoding at context n starts from a synthetic state of n tokens (random cache contents), imported
 * into every slot: decode cost does not depend on the values, and prefilling 32K tokens through
 * full attention would take the benchmark's whole budget on a 2-core machine. The measured steps
 * follow up to 40 warm-up steps (`WARM_UP`), so they run a few percent past n at 512.
 */

interface DecodeResult {
  model: ModelName;
  context: number;
  batch: number;
  ms_per_step: number;
  tokens_per_second: number;
  kv_bytes_read_per_token: number;
  state_bytes_per_sequence: number;
  /** The least this step could take on this machine (roofline.ts). */
  roofline_ms_per_step: number;
}

interface Options {
  contexts: number[];
  batches: number[];
  steps: number;
  rounds: number;
  threads: number;
  maxStateBytes: number;
  machine: Machine;
}

/** The machine's limits, measured in the same run. */
interface Machine {
  bandwidth: Bandwidth;
  gemm: GemmRate;
}

function buildSpec(preset: string, model: ModelName): ModelSpec {
  const raw = presetConfig(preset);
  if (model === 'transformer') raw.layer_types = transformerLayerTypes(raw.num_hidden_layers as number);
  const config = parseConfig(raw);
  const plan = planLayers(config);
  return { config, plan, weights: initWeights(config, plan, 0) };
}

const randomIds = (n: number, vocab: number) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);

async function measurePrefill(model: CompiledModel, promptTokens: number, repeats: number): Promise<number> {
  const prompt = randomIds(promptTokens, model.spec.config.vocabSize);
  const times: number[] = [];
  for (let r = 0; r < repeats + 1; r++) {
    const batch = model.newBatch();
    const ms = await timeMs(() => batch.prefill([prompt]));
    if (r > 0) times.push(ms); // the first run warms the session up
  }
  return promptTokens / (median(times) / 1000);
}

/** One of the two models under test, compiled once for the whole run. */
interface Contender {
  name: ModelName;
  spec: ModelSpec;
  model: CompiledModel;
}

/** One grid point of one model: the state its slots start from, and its least median so far. */
interface Point {
  contender: Contender;
  context: number;
  batch: number;
  state: Uint8Array;
  ms: number;
}

/**
 * The grid, point by point with both models in turn (not one model's whole grid after the other's),
 * so that the machine's neighbours weigh on both sides of every comparison alike; `rounds` times
 * over, each point keeping the least of its medians (neighbours only ever slow a step down, and on a
 * shared machine they come and go for seconds at a time).
 */
async function benchGrid(contenders: Contender[], o: Options): Promise<DecodeResult[]> {
  const points: Point[] = [];
  for (const context of o.contexts) {
    const states = contenders.map((c) => syntheticState(c.spec, context, 1));
    for (const batch of o.batches)
      contenders.forEach((contender, i) => {
        if (batch * stateByteSize(stateLayout(contender.spec), context) <= o.maxStateBytes)
          points.push({ contender, context, batch, state: states[i]!, ms: Infinity });
        else
          process.stderr.write(
            `${contender.name}: context ${context} batch ${batch} skipped (state over --max-state-gib)\n`,
          );
      });
  }
  for (let round = 1; round <= o.rounds; round++)
    for (const p of points) {
      const ms = await measureStep(p.contender.model, p.state, p.batch, o.steps);
      p.ms = Math.min(p.ms, ms);
      process.stderr.write(
        `${p.contender.name}: context ${p.context} batch ${p.batch}: ${ms.toFixed(2)} ms/step (round ${round})\n`,
      );
    }
  // Tables list one model's points, then the other's.
  return contenders.flatMap((c) => points.filter((p) => p.contender === c).map((p) => decodeResult(p, o.machine)));
}

function decodeResult({ contender: { name, spec }, context, batch, ms }: Point, machine: Machine): DecodeResult {
  const work = tokenWork(spec, context);
  return {
    model: name,
    context,
    batch,
    ms_per_step: ms,
    tokens_per_second: batch / (ms / 1000),
    kv_bytes_read_per_token: work.kvBytes,
    state_bytes_per_sequence: stateByteSize(stateLayout(spec), context),
    roofline_ms_per_step: roofline(work, batch, machine.bandwidth.gbps, machine.gemm.gflops).ms,
  };
}

/** Bandwidth the decode reaches counting only the K/V bytes it must read. */
const kvGbps = (r: DecodeResult) => (r.kv_bytes_read_per_token * r.batch) / (r.ms_per_step / 1000) / 1e9;

function decodeTable(results: DecodeResult[], bandwidth: Bandwidth): string {
  const rows = results.map((r) => {
    const single = results.find((s) => s.model === r.model && s.context === r.context && s.batch === 1);
    return [
      r.model,
      String(r.context),
      String(r.batch),
      r.ms_per_step.toFixed(2),
      `${r.roofline_ms_per_step.toFixed(2)} (${((100 * r.roofline_ms_per_step) / r.ms_per_step).toFixed(0)}%)`,
      r.tokens_per_second.toFixed(0),
      single ? `${(r.tokens_per_second / single.tokens_per_second).toFixed(1)}x` : '-',
      single ? `${((r.batch * single.roofline_ms_per_step) / r.roofline_ms_per_step).toFixed(1)}x` : '-',
      formatBytes(r.kv_bytes_read_per_token),
      `${kvGbps(r).toFixed(1)} (${((100 * kvGbps(r)) / bandwidth.gbps).toFixed(0)}%)`,
      formatBytes(r.state_bytes_per_sequence),
    ];
  });
  return markdownTable(
    [
      'model',
      'context',
      'batch',
      'ms/step',
      'roofline ms (% reached)',
      'tokens/s',
      'vs batch 1',
      'roofline vs batch 1',
      'K/V read/token',
      'K/V GB/s (% of bandwidth)',
      'state/seq',
    ],
    rows,
  );
}

function comparisonTable(results: DecodeResult[]): string {
  const sambay = results.filter((r) => r.model === 'sambay');
  const rows = sambay.flatMap((s) => {
    const t = results.find((r) => r.model === 'transformer' && r.context === s.context && r.batch === s.batch);
    if (!t) return [];
    const speedup = t.ms_per_step / s.ms_per_step;
    const kvRatio = t.kv_bytes_read_per_token / s.kv_bytes_read_per_token;
    return [
      [
        String(s.context),
        String(s.batch),
        `${speedup.toFixed(2)}x`,
        `${kvRatio.toFixed(2)}x`,
        (speedup / kvRatio).toFixed(2),
        `${(t.state_bytes_per_sequence / s.state_bytes_per_sequence).toFixed(1)}x`,
      ],
    ];
  });
  return markdownTable(
    ['context', 'batch', 'SambaY speedup', 'K/V bytes ratio', 'speedup / K/V ratio', 'state ratio'],
    rows,
  );
}

const USAGE = `npm run bench:decode -- [--preset tiny] [--contexts 512,2048,16384,32768] [--batches 1,4,16,64]
  [--steps 16] [--rounds 3] [--threads 1] [--prompt 2048] [--max-state-gib 5] [--json FILE]
Grid points whose batch x state exceeds --max-state-gib are skipped (and say so on stderr). Each
point is measured --rounds times, the grid over before the next round; the least median counts.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'string' },
      preset: { type: 'string', default: 'tiny' },
      contexts: { type: 'string', default: '512,2048,16384,32768' },
      batches: { type: 'string', default: '1,4,16,64' },
      steps: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '3' },
      prompt: { type: 'string', default: '2048' },
      threads: { type: 'string', default: '1' },
      'max-state-gib': { type: 'string', default: '5' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const threads = Number(values.threads);
  const o: Options = {
    contexts: values.contexts.split(',').map(Number),
    batches: values.batches.split(',').map(Number),
    steps: Number(values.steps),
    rounds: Number(values.rounds),
    threads,
    maxStateBytes: Number(values['max-state-gib']) * 2 ** 30,
    machine: { bandwidth: await measureBandwidth(threads), gemm: await measureGemmGflops(threads) },
  };
  const { bandwidth, gemm } = o.machine;
  const prompt = Number(values.prompt);
  const contenders = await Promise.all(
    (['sambay', 'transformer'] as const).map(async (name): Promise<Contender> => {
      const spec = buildSpec(values.preset, name);
      return { name, spec, model: await CompiledModel.create(spec, { intraOpThreads: o.threads }) };
    }),
  );
  const results = await benchGrid(contenders, o);
  const prefill: Partial<Record<ModelName, number>> = {};
  for (const { name, model } of contenders) prefill[name] = await measurePrefill(model, prompt, 2);
  await Promise.all(contenders.map((c) => c.model.release()));
  const { config } = buildSpec(values.preset, 'sambay');
  const readings = Object.entries(bandwidth.readings).map(([m, v]) => `${m}: ${v.toFixed(1)} GB/s`);
  process.stdout.write(
    `# decode benchmark: preset ${values.preset} (d=${config.hiddenSize}, L=${config.numLayers}, H=${config.numHeads}, ` +
      `KV=${config.numKvHeads}, W=${config.slidingWindow}), ${o.threads} intra-op thread(s), per point the least of ${o.rounds} rounds' medians of ${o.steps} steps\n\n` +
      `memory bandwidth ${bandwidth.gbps.toFixed(1)} GB/s (${bandwidth.method}; ${readings.join('; ')}); ` +
      `${describeGemm(gemm, o.threads)}\n\n` +
      `${decodeTable(results, bandwidth)}\n\n${comparisonTable(results)}\n\n` +
      `${prompt}-token prefill: SambaY ${prefill.sambay!.toFixed(0)} tokens/s, Transformer ${prefill.transformer!.toFixed(0)} tokens/s\n`,
  );
  if (values.json) {
    const report = {
      memory_bandwidth_gbps: bandwidth.gbps,
      memory_bandwidth_method: bandwidth.method,
      gemm_gflops: gemm.gflops,
      preset: values.preset,
      threads: o.threads,
      steps: o.steps,
      rounds: o.rounds,
      results,
      prefill_tokens_per_second: { prompt_tokens: prompt, ...prefill },
    };
    await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
  }
}

await main();
