import type { Tensor } from '../../model/tensor.js';

/**
 * Weight-only blockwise quantization, laid out as onnxruntime's `com.microsoft` MatMulNBits reads B
 * (and GatherBlockQuantized reads the same bytes as an embedding table):
 *
 *   W [N, K] (a checkpoint linear weight, out x in) is cut along K into blocks of `blockSize`;
 *   per block: scale = max|w| / qmax, q = clamp(round(w / scale) + zero, 0, 2^bits - 1),
 *   with the symmetric zero point zero = 2^(bits-1) (8 for int4, 128 for int8), which both ORT ops
 *   assume when no zero points are given; dequantized w' = (q - zero) * scale.
 *   data [N, K / blockSize, blockSize * bits / 8] uint8, int4 packed two per byte, low nibble first;
 *   scales [N, K / blockSize] f32.
 */
export type WeightBits = 4 | 8;

export const BLOCK_SIZE = 32;

export interface QuantizedWeight {
  bits: WeightBits;
  blockSize: number;
  n: number;
  k: number;
  data: Uint8Array;
  scales: Float32Array;
}

/** Whether W [N, K] can be cut into whole blocks (every Phi-4-mini-flash linear weight can). */
export const isQuantizable = (shape: readonly number[], blockSize = BLOCK_SIZE) =>
  shape.length === 2 && shape[1]! % blockSize === 0;

export function quantizeBlockwise(w: Tensor, bits: WeightBits, blockSize = BLOCK_SIZE): QuantizedWeight {
  const [n, k] = w.shape as [number, number];
  const blocks = k / blockSize;
  const zero = 1 << (bits - 1);
  const qmax = zero - 1; // symmetric: the code 0 of int4 (-8) is never used, as in ORT's own quantizer
  const data = new Uint8Array((n * k * bits) / 8);
  const scales = new Float32Array(n * blocks);
  const codes = new Uint8Array(blockSize);
  for (let b = 0; b < n * blocks; b++) {
    const start = b * blockSize;
    let amax = 0;
    for (let j = 0; j < blockSize; j++) amax = Math.max(amax, Math.abs(w.data[start + j]!));
    const scale = amax / qmax || 1;
    scales[b] = scale;
    for (let j = 0; j < blockSize; j++) {
      codes[j] = Math.min(2 * zero - 1, Math.max(0, Math.round(w.data[start + j]! / scale) + zero));
    }
    if (bits === 8) data.set(codes, start);
    else for (let j = 0; j < blockSize; j += 2) data[(start + j) / 2] = codes[j]! | (codes[j + 1]! << 4);
  }
  return { bits, blockSize, n, k, data, scales };
}

/** The f32 weights a quantized weight stands for (tests and error reports). */
export function dequantize(q: QuantizedWeight): Tensor {
  const out = new Float32Array(q.n * q.k);
  const zero = 1 << (q.bits - 1);
  for (let i = 0; i < out.length; i++) {
    const code = q.bits === 8 ? q.data[i]! : (q.data[i >> 1]! >> ((i & 1) * 4)) & 0xf;
    out[i] = (code - zero) * q.scales[Math.floor(i / q.blockSize)]!;
  }
  return { shape: [q.n, q.k], data: out };
}
