import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { CheckpointError } from './model-errors.js';
import { numel, type Tensor, type Weights } from './tensor.js';

/**
 * safetensors: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then the raw tensor bytes.
 * Every tensor is converted to f32 on load, whatever it was stored as; bf16 and f16 can be written.
 */

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const BYTES_PER_VALUE: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** IEEE half -> float (subnormals, infinities and NaN included). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function toFloat32(dtype: string, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / BYTES_PER_VALUE[dtype]!;
  const out = new Float32Array(n);
  if (dtype === 'F32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  else if (dtype === 'F16') for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  else {
    // bf16 is the top half of an f32.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true) << 16;
  }
  return out;
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** The shape of a header entry; whether the numbers fit the file is checked separately. */
function isHeaderEntry(raw: unknown): raw is HeaderEntry {
  if (typeof raw !== 'object' || raw === null) return false;
  const e = raw as Partial<Record<keyof HeaderEntry, unknown>>;
  return (
    typeof e.dtype === 'string' &&
    Array.isArray(e.shape) &&
    e.shape.every(isCount) &&
    Array.isArray(e.data_offsets) &&
    e.data_offsets.length === 2 &&
    e.data_offsets.every(isCount)
  );
}

function parseHeader(file: string, json: string, dataBytes: number): Map<string, HeaderEntry> {
  let header: unknown;
  try {
    header = JSON.parse(json);
  } catch (error) {
    throw new CheckpointError('format', file, `${file}: header is not valid JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new CheckpointError('format', file, `${file}: header is not a JSON object`);
  }
  const entries = new Map<string, HeaderEntry>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (!isHeaderEntry(raw)) {
      throw new CheckpointError(
        'format',
        name,
        `${file}: tensor \`${name}\` needs dtype, shape and data_offsets in the header`,
      );
    }
    const entry = raw;
    if (!Object.hasOwn(BYTES_PER_VALUE, entry.dtype)) {
      throw new CheckpointError(
        'dtype',
        name,
        `tensor \`${name}\` has dtype ${entry.dtype}; supported: F32, F16, BF16`,
      );
    }
    const [begin, end] = entry.data_offsets;
    const expected = numel(entry.shape) * BYTES_PER_VALUE[entry.dtype]!;
    if (end - begin !== expected || end > dataBytes) {
      throw new CheckpointError(
        'format',
        name,
        `${file}: tensor \`${name}\` has data offsets [${begin}, ${end}] that do not fit its shape or the file (truncated?)`,
      );
    }
    entries.set(name, entry);
  }
  return entries;
}

/**
 * An open .safetensors file: its header parsed and checked, tensors read one at a time, on demand,
 * so a checkpoint larger than memory is never held whole (synchronous reads: the model compiler
 * needs one tensor at a time in order, and nothing else runs on a loading worker).
 */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly dataStart: number,
    private readonly entries: Map<string, HeaderEntry>,
  ) {}

  static open(path: string): SafetensorsFile {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size < 8)
        throw new CheckpointError('format', path, `${path}: not a safetensors file (${size} bytes, truncated?)`);
      const lengthBytes = Buffer.alloc(8);
      readSync(fd, lengthBytes, 0, 8, 0);
      const headerLength = Number(lengthBytes.readBigUInt64LE(0));
      if (headerLength > size - 8) {
        throw new CheckpointError(
          'format',
          path,
          `${path}: not a safetensors file (header length ${headerLength} exceeds the file size ${size})`,
        );
      }
      const headerBytes = Buffer.alloc(headerLength);
      readSync(fd, headerBytes, 0, headerLength, 8);
      const dataStart = 8 + headerLength;
      return new SafetensorsFile(
        path,
        fd,
        dataStart,
        parseHeader(path, headerBytes.toString('utf8'), size - dataStart),
      );
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  shape(name: string): number[] | undefined {
    return this.entries.get(name)?.shape;
  }

  /** The tensor converted to f32, read from disk now. */
  /** This file as it is now: its path, size and modification time (changed by any rewrite). */
  identity(): string {
    const { size, mtimeMs, ino } = fstatSync(this.fd);
    return `${this.path}:${ino}:${size}:${mtimeMs}`;
  }

  read(name: string): Tensor | undefined {
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    const [begin, end] = entry.data_offsets;
    const bytes = new Uint8Array(end - begin);
    for (let done = 0; done < bytes.length;) {
      done += readSync(this.fd, bytes, done, bytes.length - done, this.dataStart + begin + done);
    }
    return { shape: entry.shape, data: toFloat32(entry.dtype, bytes) };
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Reads every tensor of a .safetensors file as f32. */
export function readSafetensors(path: string): Weights {
  const file = SafetensorsFile.open(path);
  try {
    return new Map(file.names().map((name) => [name, file.read(name)!]));
  } finally {
    file.close();
  }
}

export type StoredDtype = 'F32' | 'F16' | 'BF16';

/** f32 -> the stored dtype's bytes (bf16 and f16 round to nearest even). */
function encodeValues(data: Float32Array, dtype: StoredDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint16Array(data.length);
  if (dtype === 'BF16') {
    const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
    for (let i = 0; i < data.length; i++) {
      const b = bits[i]!;
      out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    }
  } else {
    for (let i = 0; i < data.length; i++) out[i] = floatToHalf(data[i]!);
  }
  return new Uint8Array(out.buffer);
}

/** float -> IEEE half, round to nearest even; overflow to infinity, underflow through subnormals. */
function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = bits & 0x7fffff;
  if (exponent >= 0x1f) return sign | 0x7c00 | (((bits >>> 23) & 0xff) === 0xff && mantissa ? 0x200 : 0);
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    const m = (mantissa | 0x800000) >>> (1 - exponent);
    return sign | ((m + 0xfff + ((m >>> 13) & 1)) >>> 13);
  }
  const rounded = (exponent << 10) + ((mantissa + 0xfff + ((mantissa >>> 13) & 1)) >>> 13);
  return sign | rounded;
}

/**
 * Writes tensors given as names and shapes plus a function producing each one's values, in the
 * order given, one tensor in memory at a time (so a checkpoint larger than memory can be written).
 */
export function writeSafetensorsStreaming(
  path: string,
  tensors: readonly { name: string; shape: number[] }[],
  values: (name: string) => Float32Array,
  dtype: StoredDtype = 'F32',
): void {
  const header: Record<string, HeaderEntry> = {};
  let offset = 0;
  for (const { name, shape } of tensors) {
    const bytes = numel(shape) * BYTES_PER_VALUE[dtype]!;
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8'); // lengths are in bytes: names may be non-ASCII
  json = Buffer.concat([json, Buffer.from(' '.repeat((8 - (json.length % 8)) % 8))]); // keep tensor data 8-byte aligned
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, length);
    writeAll(fd, json);
    for (const { name } of tensors) writeAll(fd, encodeValues(values(name), dtype));
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done);
}

/** Writes f32 (or bf16/f16) tensors in name order, so the same weights always give the same bytes. */
export function writeSafetensors(path: string, weights: Weights, dtype: StoredDtype = 'F32'): void {
  const tensors = [...weights.keys()].sort().map((name) => ({ name, shape: weights.get(name)!.shape }));
  writeSafetensorsStreaming(path, tensors, (name) => weights.get(name)!.data, dtype);
}
