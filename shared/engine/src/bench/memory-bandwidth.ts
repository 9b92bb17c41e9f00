import ort from 'onnxruntime-node';
import { GraphBuilder } from '../graph/onnx/onnx-builder.js';

/**
 * The machine's streaming read bandwidth, measured in the benchmark's own run so the decode numbers
 * can be read against it. Two readers over a buffer far larger than any cache level: a one-node ORT
 * ReduceSum over a feed (vectorised, the way the decode graphs read their caches) and a plain JS
 * loop summing a Float64Array. The faster one is what the machine can stream; both are reported.
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

async function ortReduceSum(data: Float32Array, threads: number): Promise<number> {
  const g = new GraphBuilder('stream_read');
  const x = g.input('x', 'float32', ['n']);
  g.output('sum', g.op1('ReduceSum', [x], { keepdims: 0 }), 'float32', []);
  const session = await ort.InferenceSession.create(g.build(), { intraOpNumThreads: threads });
  const feeds = { x: new ort.Tensor('float32', data, [data.length]) };
  await session.run(feeds);
  const times: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const start = performance.now();
    await session.run(feeds);
    times.push(performance.now() - start);
  }
  await session.release();
  return data.byteLength / (median(times) / 1000) / 1e9;
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
  };
  const [method, gbps] = Object.entries(readings).reduce((best, r) => (r[1] > best[1] ? r : best));
  return { gbps, method, readings };
}
