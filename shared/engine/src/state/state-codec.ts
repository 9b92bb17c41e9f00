import { numel } from '../model/tensor.js';
import { StateConfigMismatchError, StateFormatError } from './state-errors.js';
import { stateBlocks, type LayerState, type StateBlock } from './state-layout.js';

/**
 * A sequence's exported state:
 *   8 bytes  magic "SMBYSTAT"
 *   u32 LE   header length n
 *   n bytes  header JSON { version, fingerprint, length, blocks: [{ layer, tensor, shape }] }
 *   0-3      zero bytes, so the data starts 4-byte aligned
 *   f32 LE   the blocks in header order (state-layout.ts `stateBlocks`)
 */
const MAGIC = 'SMBYSTAT';
/** 2: Mamba states time-major / N-major ([d_conv, Di], [N, Di]); version 1 held [Di, d_conv], [Di, N]. */
const VERSION = 2;

export interface SequenceState {
  length: number;
  /** One array per block of `stateBlocks(layout, length)`, in that order. */
  blocks: Float32Array[];
}

interface Header {
  version: number;
  fingerprint: string;
  length: number;
  blocks: StateBlock[];
}

const align4 = (n: number) => (n + 3) & ~3;

export function encodeState(fingerprint: string, layout: readonly LayerState[], state: SequenceState): Uint8Array {
  const blocks = stateBlocks(layout, state.length);
  const header = new TextEncoder().encode(
    JSON.stringify({ version: VERSION, fingerprint, length: state.length, blocks }),
  );
  const dataStart = align4(12 + header.length);
  const floats = blocks.reduce((n, b) => n + numel(b.shape), 0);
  const bytes = new Uint8Array(dataStart + 4 * floats);
  bytes.set(new TextEncoder().encode(MAGIC));
  new DataView(bytes.buffer).setUint32(8, header.length, true);
  bytes.set(header, 12);
  const data = new Float32Array(bytes.buffer, dataStart, floats);
  let at = 0;
  for (const [i, block] of state.blocks.entries()) {
    if (block.length !== numel(blocks[i]!.shape)) throw new RangeError(`state block ${i} has ${block.length} values`);
    data.set(block, at);
    at += block.length;
  }
  return bytes;
}

function readHeader(bytes: Uint8Array): { header: Header; dataStart: number } {
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new StateFormatError('not a SambaY state (bad magic bytes)');
  }
  const size = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (12 + size > bytes.length) throw new StateFormatError('state header is truncated');
  try {
    return {
      header: JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + size))) as Header,
      dataStart: align4(12 + size),
    };
  } catch {
    throw new StateFormatError('state header is not valid JSON');
  }
}

/** Parses exported bytes; rejects other formats, versions, configs and layouts with typed errors. */
export function decodeState(bytes: Uint8Array, fingerprint: string, layout: readonly LayerState[]): SequenceState {
  const { header, dataStart } = readHeader(bytes);
  if (header.version !== VERSION)
    throw new StateFormatError(`state format version ${header.version} is not supported (expected ${VERSION})`);
  if (header.fingerprint !== fingerprint) throw new StateConfigMismatchError(fingerprint, header.fingerprint);
  if (!Number.isInteger(header.length) || header.length < 1)
    throw new StateFormatError(`state length ${header.length} is invalid`);
  const expected = stateBlocks(layout, header.length);
  if (JSON.stringify(expected) !== JSON.stringify(header.blocks))
    throw new StateFormatError('state blocks do not match this model');
  const floats = expected.reduce((n, b) => n + numel(b.shape), 0);
  if (bytes.length !== dataStart + 4 * floats)
    throw new StateFormatError(`state data is ${bytes.length - dataStart} bytes, expected ${4 * floats}`);
  // Copy once to an aligned buffer (the caller's bytes may start at any offset).
  const data = new Float32Array(bytes.slice(dataStart).buffer);
  let at = 0;
  const blocks = expected.map((b) => data.subarray(at, (at += numel(b.shape))));
  return { length: header.length, blocks };
}
