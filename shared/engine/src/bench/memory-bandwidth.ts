import ort from 'onnxruntime-node';
import { GraphBuilder } from '../graph/onnx/onnx-builder.js';

/**
 * The machine's streaming read bandwidth, measured in the benchmark's own run so the decode numbers
 * can be read against it. Three readers over buffers far larger than any cache level: a one-node ORT
 * ReduceSum over a feed (vectorised, the way the decode graphs read their caches), a plain JS loop
 * summing a Float64Array, and an ORT MatMul of one row by a large weight (the way a decode step reads
 * its weights). The fastest is what the machine can stream; all are reported.
 */

export interface Bandwidth {
  gbps: number;
  method: string;
  readings: Record<string, number>;
}

const BYTES = 1 << 30; // 1 GiB
const REPEATS = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/** GB/s of reading `bytes` per run of `session` (median of REPEATS after a warm-up); releases it. */
async function streamGbps(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, bytes: number) {
  await session.run(feeds);
  const times: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const start = performance.now();
    await session.run(feeds);
    times.push(performance.now() - start);
  }
  await session.release();
  return bytes / (median(times) / 1000) / 1e9;
}

async function ortReduceSum(data: Float32Array, threads: number): Promise<number> {
  const g = new GraphBuilder('stream_read');
  const x = g.input('x', 'float32', ['n']);
  g.output('sum', g.op1('ReduceSum', [x], { keepdims: 0 }), 'float32', []);
  const session = await ort.InferenceSession.create(g.build(), { intraOpNumThreads: threads });
  return streamGbps(session, { x: new ort.Tensor('float32', data, [data.length]) }, data.byteLength);
}

/**
 * y = x W for one row x against a 512 MiB f32 W held as an initializer (prepacked by ORT): how
 * fast a decode step at batch 1 can stream its weights, the roofline of small-batch decoding.
 */
async function ortGemv(threads: number): Promise<number> {
  const [k, n] = [8192, 16384];
  const weight = { shape: [k, n], data: new Float32Array(k * n).fill(1e-3) };
  const g = new GraphBuilder('stream_gemv', () => weight);
  const x = g.input('x', 'float32', [1, k]);
  g.output('y', g.op1('MatMul', [x, g.param('w')]), 'float32', [1, n]);
  const session = await ort.InferenceSession.create(g.build(), { intraOpNumThreads: threads });
  const feeds = { x: new ort.Tensor('float32', new Float32Array(k).fill(1), [1, k]) };
  return streamGbps(session, feeds, weight.data.byteLength);
}

function jsSum(data: Float64Array): number {
  const times: number[] = [];
  let total = 0;
  for (let r = 0; r < REPEATS; r++) {
    const start = performance.now();
    for (const value of data) total += value;
    times.push(performance.now() - start);
  }
  if (Number.isNaN(total)) throw new RangeError('unreachable: the sum keeps the loop from being optimised away');
  return data.byteLength / (median(times) / 1000) / 1e9;
}

export async function measureBandwidth(threads: number): Promise<Bandwidth> {
  const floats = new Float32Array(BYTES / 4).fill(1); // filled, so every page is really there
  const readings: Record<string, number> = {
    [`ORT ReduceSum over a 1 GiB feed, ${threads} thread(s)`]: await ortReduceSum(floats, threads),
    'JS loop summing a 1 GiB Float64Array': jsSum(new Float64Array(floats.buffer)),
    [`ORT MatMul of one row by a 512 MiB f32 weight, ${threads} thread(s)`]: await ortGemv(threads),
  };
  const [method, gbps] = Object.entries(readings).reduce((best, r) => (r[1] > best[1] ? r : best));
  return { gbps, method, readings };
}
