import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { GraphBuilder } from '../graph/onnx/onnx-builder.js';
import { linear } from '../graph/onnx/ops.js';
import { writeWeightFile, type WeightMode } from '../graph/weights/weight-file.js';
import { checkpointLayout } from '../model/checkpoint-layout.js';
import type { ModelSpec } from '../model/model-spec.js';
import { numel } from '../model/tensor.js';

/**
 * What one decode step must read and compute, and the least time the machine could do it in:
 *   roofline(batch) = max((weight bytes + batch x K/V bytes) / bandwidth, batch x FLOPs / GEMM rate)
 * with the bandwidth and the GEMM rate measured in the same run. Weights are read once per step
 * whatever the batch; each sequence adds its own K/V reads and FLOPs, so the roofline also bounds
 * how far batching can raise tokens/s.
 */

export interface TokenWork {
  /** f32 bytes of the weights a step streams (every matmul weight; the embedding only as a tied head). */
  weightBytes: number;
  /** K/V bytes one token's decode reads at its context (see `kvBytesReadPerToken`). */
  kvBytes: number;
  /** Multiply-adds x 2 of one token: matmul weights plus attention over the rows it reads. */
  flops: number;
}

/** A matmul weight: a 2-D `.weight` other than the embedding table (gathered, not multiplied). */
const isMatmulWeight = (name: string, shape: number[]) =>
  name.endsWith('.weight') && shape.length === 2 && name !== 'model.embed_tokens.weight';

/**
 * K/V bytes one token's decode must read at context n: every full and cross layer reads the n
 * cached rows it attends over (cross layers re-read the shared cache), a sliding layer its ring.
 */
export function kvBytesReadPerToken(spec: ModelSpec, context: number): number {
  const { numKvHeads, headDim } = spec.config;
  return 2 * numKvHeads * headDim * 4 * attendedRows(spec, context);
}

/** Rows all attention layers of one token attend over, summed. */
function attendedRows(spec: ModelSpec, context: number): number {
  return spec.plan.layers.reduce((sum, layer) => {
    if (layer.kind === 'sliding_attention') return sum + Math.min(context, spec.config.slidingWindow - 1);
    if (layer.kind === 'full_attention' || layer.kind === 'cross_attention') return sum + context;
    return sum;
  }, 0);
}

/** From the config alone (the shapes of `checkpointLayout`): no weight is read, in memory or on disk. */
export function tokenWork(spec: ModelSpec, context: number): TokenWork {
  const { config: c } = spec;
  let params = 0;
  for (const [name, shape] of checkpointLayout(c, spec.plan)) if (isMatmulWeight(name, shape)) params += numel(shape);
  if (c.tieWordEmbeddings) params += c.vocabSize * c.hiddenSize; // the embedding read again as the head
  // Differential attention per query head: scores over hd, values over both heads of its pair (2 hd).
  const attentionMacs = 3 * c.numHeads * c.headDim * attendedRows(spec, context);
  return { weightBytes: 4 * params, kvBytes: kvBytesReadPerToken(spec, context), flops: 2 * (params + attentionMacs) };
}

/** The least time a decode step could take, and which limit sets it. */
export interface Roofline {
  ms: number;
  bound: 'memory' | 'compute';
}

/** The roofline of a decode step of `batch` tokens at `gbps` and `gflops`. */
export function roofline(work: TokenWork, batch: number, gbps: number, gflops: number): Roofline {
  const memory = (work.weightBytes + batch * work.kvBytes) / (gbps * 1e9);
  const compute = (batch * work.flops) / (gflops * 1e9);
  return { ms: 1000 * Math.max(memory, compute), bound: compute > memory ? 'compute' : 'memory' };
}

/** The GEMM rate one shape reached: `rows` x `width` times a `width` x `width` weight held as `mode`. */
export interface GemmRate {
  gflops: number;
  rows: number;
  width: number;
  mode: WeightMode;
}

/**
 * GEMM shapes the rate is measured at: a batched decode step's weight matmuls have a few to a few
 * dozen rows, by weights that range from L2-resident (a tiny model's 128-wide layers) to far beyond
 * the caches. `chain` products per run, each over the last one's output, so that a small shape's
 * time is not the run's fixed cost.
 */
const GEMM_SHAPES = [
  { rows: 64, width: 1024, chain: 4 },
  { rows: 64, width: 256, chain: 64 },
  { rows: 16, width: 128, chain: 256 },
];

/**
 * The machine's GEMM rate for the roofline: the best of `GEMM_SHAPES` (a roofline bounds what the
 * step could do, so it takes the fastest matmuls the machine showed), through the op the model's
 * own weights go through (ops.ts `linear`): FusedMatMul by a prepacked f32 weight, or MatMulNBits at
 * the model's accuracy level for int8 / int4, whose int8 dot products make a batch of a few rows
 * compute-bound long before f32 would be. Each shape's median of 20 runs after a warm-up.
 */
export async function measureGemmGflops(threads: number, mode: WeightMode = 'f32'): Promise<GemmRate> {
  const dir = await mkdtemp(join(tmpdir(), 'sambay-gemm-rate-'));
  try {
    const rates: GemmRate[] = [];
    for (const shape of GEMM_SHAPES) rates.push(await measureShape(dir, threads, mode, shape));
    return rates.reduce((best, r) => (r.gflops > best.gflops ? r : best));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The probe's result as the benchmarks print it. */
export const describeGemm = (r: GemmRate, threads: number) =>
  `${r.mode} GEMM ${r.gflops.toFixed(0)} GFLOP/s (the best of three shapes: ${r.rows} x ${r.width} x ${r.width} ` +
  `through ${r.mode === 'f32' ? 'FusedMatMul' : 'MatMulNBits'}, ${threads} thread(s))`;

async function measureShape(
  dir: string,
  threads: number,
  mode: WeightMode,
  { rows, width, chain }: (typeof GEMM_SHAPES)[number],
): Promise<GemmRate> {
  // A weights file and a graph beside it, as a compiled model keeps them (compiled-model.ts).
  // Rows summing to 1 keep the chained values at 1: no overflow, no slow denormals.
  const weight = { shape: [width, width], data: new Float32Array(width * width).fill(1 / width) };
  const file = writeWeightFile(join(dir, 'weights.bin'), new Map([['w.weight', weight]]), mode);
  const g = new GraphBuilder('gemm_rate', (name) => file.weights.get(name));
  let y = g.input('x', 'float32', [rows, width]);
  for (let i = 0; i < chain; i++) y = linear(g, y, 'w.weight');
  g.output('y', y, 'float32', [rows, width]);
  const graph = join(dir, `gemm-${rows}x${width}.onnx`);
  await writeFile(graph, g.build());
  const session = await ort.InferenceSession.create(graph, { intraOpNumThreads: threads });
  const feeds = { x: new ort.Tensor('float32', new Float32Array(rows * width).fill(1), [rows, width]) };
  await session.run(feeds);
  const times: number[] = [];
  for (let r = 0; r < 20; r++) {
    const start = performance.now();
    await session.run(feeds);
    times.push(performance.now() - start);
  }
  await session.release();
  times.sort((a, b) => a - b);
  const gflops = (2 * rows * width * width * chain) / (times[times.length >> 1]! / 1000) / 1e9;
  return { gflops, rows, width, mode };
}
