import { readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { WEIGHT_MODES, type WeightMode } from '../graph/weights/weight-file.js';
import { parameterCount } from '../model/checkpoint-layout.js';
import { loadModelDir } from '../model/model-dir.js';
import { CompiledModel } from '../runtime/compiled-model.js';
import { syntheticState } from '../state/synthetic-state.js';
import { measureBandwidth } from './memory-bandwidth.js';
import { formatBytes, markdownTable, median, timeMs } from './report.js';
import { describeGemm, measureGemmGflops, roofline, tokenWork, type Roofline } from './roofline.js';

/**
 * One model directory as a worker would hold it: load time, peak resident memory, and decode step
 * time at a fixed context for a few batch sizes, read against the roofline (roofline.ts) with the
 * bandwidth and the GEMM rate of the model's own weight mode measured in the same run. At batch 1 a
 * step streams all the weights once (weight bytes / step time vs the bandwidth); a few rows more and
 * MatMulNBits' int8 dot products make the step compute-bound, which the bandwidth alone would hide.
 */

interface StepResult {
  batch: number;
  ms_per_step: number;
  tokens_per_second: number;
  weight_gbps: number;
  fraction_of_bandwidth: number;
  /** The least this step could take: the weights as held and the K/V over the bandwidth, or the FLOPs over the GEMM rate. */
  roofline_ms_per_step: number;
  bound: Roofline['bound'];
}

const USAGE = `npm run bench:model -- --model DIR [--weights f32|int8|int4] [--context 2048] [--batches 1,8]
  [--steps 8] [--threads 2] [--json FILE]`;

/** Peak resident bytes since the last `resetPeakRss` (Linux VmHWM; getrusage's peak cannot be reset). */
function peakRss(): number {
  const line = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return line ? Number(line[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
}

/** Starts a new peak (writing 5 to clear_refs resets VmHWM), so the bandwidth probe's buffers do not count. */
function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not Linux: the peak then includes the probe's buffers, an overestimate.
  }
}

async function stepMs(model: CompiledModel, state: Uint8Array, batch: number, steps: number): Promise<number> {
  const b = model.newBatch({ capacity: batch });
  const tokens = new Map(Array.from({ length: batch }, () => [b.importState(state), 1]));
  const times: number[] = [];
  for (let s = 0; s < steps + 1; s++) {
    const ms = await timeMs(() => b.step(tokens));
    if (s > 0) times.push(ms); // the first step warms up
  }
  return median(times);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      weights: { type: 'string', default: 'f32' },
      context: { type: 'string', default: '2048' },
      batches: { type: 'string', default: '1,8' },
      steps: { type: 'string', default: '8' },
      threads: { type: 'string', default: '2' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.model || !(WEIGHT_MODES as readonly string[]).includes(values.weights)) {
    process.stdout.write(`${USAGE}\n`);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const mode = values.weights as WeightMode;
  const threads = Number(values.threads);
  const context = Number(values.context);

  const bandwidth = await measureBandwidth(threads);
  const gemm = await measureGemmGflops(threads, mode);
  resetPeakRss();
  const loadStart = process.hrtime.bigint();
  const spec = await loadModelDir(values.model);
  const model = await CompiledModel.create(spec, { weights: mode, intraOpThreads: threads });
  const loadSeconds = Number(process.hrtime.bigint() - loadStart) / 1e9;
  const loadPeak = peakRss();
  const rssLoaded = process.memoryUsage().rss;
  const f32Bytes = 4 * parameterCount(spec.config, spec.plan);

  const state = syntheticState(spec, context, 1);
  const work = { ...tokenWork(spec, context), weightBytes: model.weightBytes };
  const results: StepResult[] = [];
  for (const batch of values.batches.split(',').map(Number)) {
    const ms = await stepMs(model, state, batch, Number(values.steps));
    const gbps = model.weightBytes / (ms / 1000) / 1e9;
    const limit = roofline(work, batch, bandwidth.gbps, gemm.gflops);
    results.push({
      batch,
      ms_per_step: ms,
      tokens_per_second: batch / (ms / 1000),
      weight_gbps: gbps,
      fraction_of_bandwidth: gbps / bandwidth.gbps,
      roofline_ms_per_step: limit.ms,
      bound: limit.bound,
    });
    process.stderr.write(`batch ${batch}: ${ms.toFixed(1)} ms/step\n`);
  }
  await model.release();
  const servePeak = peakRss();

  const c = spec.config;
  const table = markdownTable(
    ['batch', 'ms/step', 'tokens/s', 'weights GB/s', '% of bandwidth', 'roofline ms (% reached)', 'bound by'],
    results.map((r) => [
      String(r.batch),
      r.ms_per_step.toFixed(1),
      r.tokens_per_second.toFixed(1),
      r.weight_gbps.toFixed(1),
      `${(100 * r.fraction_of_bandwidth).toFixed(0)}%`,
      `${r.roofline_ms_per_step.toFixed(1)} (${((100 * r.roofline_ms_per_step) / r.ms_per_step).toFixed(0)}%)`,
      r.bound,
    ]),
  );
  process.stdout.write(
    `# model benchmark: ${values.model} (d=${c.hiddenSize}, L=${c.numLayers}, vocab=${c.vocabSize}), weights ${mode}, ` +
      `${threads} thread(s), context ${context}, median of ${values.steps} steps\n\n` +
      `load ${loadSeconds.toFixed(1)} s; weights as held ${formatBytes(model.weightBytes)} (f32 ${formatBytes(f32Bytes)}); ` +
      `RSS after load ${formatBytes(rssLoaded)}, peak while loading ${formatBytes(loadPeak)}, ` +
      `peak overall ${formatBytes(servePeak)} (${(servePeak / model.weightBytes).toFixed(2)}x the weights as held)\n` +
      `memory bandwidth ${bandwidth.gbps.toFixed(1)} GB/s (${bandwidth.method}); ${describeGemm(gemm, threads)}\n\n${table}\n`,
  );
  if (values.json) {
    const report = {
      model: values.model,
      weights: mode,
      threads,
      context,
      load_seconds: loadSeconds,
      weight_bytes: model.weightBytes,
      f32_weight_bytes: f32Bytes,
      rss_after_load_bytes: rssLoaded,
      peak_rss_loading_bytes: loadPeak,
      peak_rss_bytes: servePeak,
      memory_bandwidth_gbps: bandwidth.gbps,
      gemm_gflops: gemm.gflops,
      results,
    };
    await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
  }
}

await main();
