import { open, writeFile } from 'node:fs/promises';
import { CheckpointError } from './model-errors.js';
import { numel, type Tensor, type Weights } from './tensor.js';

/**
 * safetensors: 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then the raw tensor bytes.
 * Every tensor is converted to f32 on load, whatever it was stored as.
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

/** Reads every tensor of a .safetensors file as f32. */
export async function readSafetensors(file: string): Promise<Weights> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size < 8)
      throw new CheckpointError('format', file, `${file}: not a safetensors file (${size} bytes, truncated?)`);
    const lengthBytes = Buffer.alloc(8);
    await handle.read(lengthBytes, 0, 8, 0);
    const headerLength = Number(lengthBytes.readBigUInt64LE(0));
    if (headerLength > size - 8) {
      throw new CheckpointError(
        'format',
        file,
        `${file}: not a safetensors file (header length ${headerLength} exceeds the file size ${size})`,
      );
    }
    const headerBytes = Buffer.alloc(headerLength);
    await handle.read(headerBytes, 0, headerLength, 8);
    const dataStart = 8 + headerLength;
    const entries = parseHeader(file, headerBytes.toString('utf8'), size - dataStart);
    const weights: Weights = new Map();
    for (const [name, entry] of entries) {
      const [begin, end] = entry.data_offsets;
      const bytes = new Uint8Array(end - begin);
      await handle.read(bytes, 0, bytes.length, dataStart + begin);
      weights.set(name, { shape: entry.shape, data: toFloat32(entry.dtype, bytes) });
    }
    return weights;
  } finally {
    await handle.close();
  }
}

/** Writes f32 tensors in name order, so the same weights always give the same bytes. */
export async function writeSafetensors(file: string, weights: Weights): Promise<void> {
  const names = [...weights.keys()].sort();
  const header: Record<string, HeaderEntry> = {};
  let offset = 0;
  for (const name of names) {
    const t = weights.get(name)!;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8'); // lengths are in bytes: names may be non-ASCII
  json = Buffer.concat([json, Buffer.from(' '.repeat((8 - (json.length % 8)) % 8))]); // keep tensor data 8-byte aligned
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const data = names.map((name) => {
    const t: Tensor = weights.get(name)!;
    return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  });
  await writeFile(file, Buffer.concat([length, json, ...data]));
}
