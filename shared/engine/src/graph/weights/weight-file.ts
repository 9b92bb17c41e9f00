import { closeSync, openSync, writeSync } from 'node:fs';
import type { WeightSource } from '../../model/tensor.js';
import { isQuantizable, quantizeBlockwise, type WeightBits } from './quantize.js';

/**
 * The weights file a compiled model's graphs read as ONNX external data: every tensor once, f32 or
 * blockwise-quantized (quantize.ts), each at a page-aligned offset so onnxruntime can memory-map it.
 * Both graphs (prefill and decode) point into the same file, and the process never holds more than
 * one tensor of it in JS memory while writing.
 */

/** How linear weights (and the embedding) are stored: f32, or weight-only int8 / int4. */
export type WeightMode = 'f32' | 'int8' | 'int4';
export const WEIGHT_MODES: readonly WeightMode[] = ['f32', 'int8', 'int4'];

export interface FileRange {
  offset: number;
  length: number;
}

export type StoredWeight =
  | { kind: 'f32'; shape: number[]; range: FileRange }
  | { kind: 'quantized'; shape: number[]; bits: WeightBits; blockSize: number; data: FileRange; scales: FileRange };

export interface WeightFile {
  path: string;
  weights: Map<string, StoredWeight>;
  bytes: number;
}

const ALIGN = 4096;
const bitsOf: Record<Exclude<WeightMode, 'f32'>, WeightBits> = { int8: 8, int4: 4 };

/** A linear layer's weight or the embedding table: [out, in] matrices read by MatMul or Gather. */
const isMatrixWeight = (name: string, shape: readonly number[]) => shape.length === 2 && name.endsWith('.weight');

class AlignedWriter {
  private offset = 0;
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  write(bytes: Uint8Array): FileRange {
    const start = Math.ceil(this.offset / ALIGN) * ALIGN;
    for (let done = 0; done < bytes.length;) done += writeSync(this.fd, bytes, done, bytes.length - done, start + done);
    this.offset = start + bytes.length;
    return { offset: start, length: bytes.length };
  }

  get size(): number {
    return this.offset;
  }

  close(): void {
    closeSync(this.fd);
  }
}

const bytesOf = (view: ArrayBufferView) => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

/** Writes every tensor of `source` to `path`, quantizing matrix weights when `mode` says so. */
export function writeWeightFile(path: string, source: WeightSource, mode: WeightMode): WeightFile {
  const writer = new AlignedWriter(path);
  const weights = new Map<string, StoredWeight>();
  try {
    for (const name of source.keys()) {
      const t = source.get(name)!;
      if (mode !== 'f32' && isMatrixWeight(name, t.shape) && isQuantizable(t.shape)) {
        const q = quantizeBlockwise(t, bitsOf[mode]);
        const data = writer.write(q.data);
        const scales = writer.write(bytesOf(q.scales));
        weights.set(name, { kind: 'quantized', shape: t.shape, bits: q.bits, blockSize: q.blockSize, data, scales });
      } else {
        weights.set(name, { kind: 'f32', shape: t.shape, range: writer.write(bytesOf(t.data)) });
      }
    }
    return { path, weights, bytes: writer.size };
  } finally {
    writer.close();
  }
}
