import onnxProto, { type onnx as OnnxTypes } from 'onnx-proto';
import type { Tensor } from '../../model/tensor.js';
import type { FileRange, StoredWeight } from '../weights/weight-file.js';

const { onnx } = onnxProto;

/**
 * A small builder for ONNX graphs (ai.onnx opset 18, plus `com.microsoft` contrib ops where ORT's CPU
 * provider has a kernel the standard set lacks), so model code reads like the math:
 * `g.op('MatMul', [a, b])` adds a node and returns its output names. Values are named under the
 * current scope (`layers.3.mamba/MatMul_12`), so any value in a profile traces back to a block.
 *
 * Checkpoint weights are either held in the protobuf (a model resolved from memory: small, used by
 * tests and benchmarks) or ONNX external data in the compiled model's weights file (weight-file.ts):
 * protobuf messages are limited to 2 GB, and onnxruntime memory-maps external data instead of
 * copying it.
 */
export const OPSET = 18;
/** onnxruntime's contrib-op domain (FusedMatMul: a MatMul that transposes operands by strides, no copy). */
export const CONTRIB_DOMAIN = 'com.microsoft';
const IR_VERSION = 8;

export type ElemType = 'float32' | 'int64' | 'bool' | 'uint8';
/** A dimension: a fixed size or a symbolic name such as 'batch'. */
export type Dim = number | string;

const ELEM_TYPES: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
  uint8: onnx.TensorProto.DataType.UINT8,
};

/** A weight as a graph sees it: values in memory, or a place in the weights file. */
export type ParamValue = Tensor | StoredWeight;

/** Looks up a weight by its Hugging Face checkpoint name. */
export type WeightResolver = (name: string) => ParamValue | undefined;

/** A blockwise-quantized weight (weights/quantize.ts has the layout): its scales and attributes. */
export interface QuantizedParam {
  /** f32 [N, K / blockSize]. */
  scales: string;
  n: number;
  k: number;
  bits: number;
  blockSize: number;
  /** Adds the data as MatMulNBits reads it: uint8 [N, K / blockSize, blockSize * bits / 8]. */
  blocks(): string;
  /** Adds the same bytes as GatherBlockQuantized reads them: uint8 [N, K * bits / 8]. */
  rows(): string;
}

/** Attribute values: integers become INT, other numbers FLOAT; `{ f }` forces FLOAT. */
export type AttrValue = number | number[] | string | { f: number } | GraphBuilder;

function attribute(name: string, value: AttrValue): OnnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (value instanceof GraphBuilder) return { name, type: T.GRAPH, g: value.toGraphProto() };
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if (typeof value === 'object') return { name, type: T.FLOAT, f: value.f };
  return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
}

function valueInfo(name: string, type: ElemType, dims?: readonly Dim[]): OnnxTypes.IValueInfoProto {
  const shape = dims && { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) };
  return { name, type: { tensorType: { elemType: ELEM_TYPES[type], ...(shape ? { shape } : {}) } } };
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Counters shared by a graph and its subgraphs: ONNX value names must be unique across scopes. */
interface NameSource {
  next: number;
}

export class GraphBuilder {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly inputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly outputs: OnnxTypes.IValueInfoProto[] = [];
  private readonly initializers = new Map<string, OnnxTypes.ITensorProto>();
  private readonly scopes: string[] = [];

  /**
   * @param resolveParam looks up a named weight (HF checkpoint name) for `param`; subgraphs
   * delegate to the root so weights live once, in the main graph, and bodies read them from the outer scope.
   * @param weightsFile where stored weights are, relative to the model file.
   */
  constructor(
    readonly name: string,
    private readonly resolveParam: WeightResolver = () => undefined,
    private readonly weightsFile = 'weights.bin',
    private readonly names: NameSource = { next: 0 },
    private readonly root?: GraphBuilder,
  ) {}

  /** A Scan / Loop body: shares value naming and weights with this graph. */
  subgraph(name: string): GraphBuilder {
    return new GraphBuilder(name, this.resolveParam, this.weightsFile, this.names, this.root ?? this);
  }

  /** Runs `fn` with values named under `name/`. */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  private fresh(base: string): string {
    const prefix = this.scopes.length ? `${this.scopes.join('/')}/` : '';
    return `${prefix}${base}_${this.names.next++}`;
  }

  input(name: string, type: ElemType, dims?: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(name: string, value: string, type: ElemType = 'float32', dims?: readonly Dim[]): string {
    if (value !== name)
      this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: `${name}/Identity` });
    this.outputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** A f32 initializer stored as raw little-endian bytes. */
  initializer(name: string, t: Tensor): string {
    const target = this.root ?? this;
    if (!target.initializers.has(name)) {
      target.initializers.set(name, {
        name,
        dims: t.shape,
        dataType: ELEM_TYPES.float32,
        rawData: bytesOf(t.data),
      });
    }
    return name;
  }

  /** An initializer whose bytes are `range` of the weights file. */
  private external(name: string, type: ElemType, dims: number[], range: FileRange): string {
    const target = this.root ?? this;
    if (!target.initializers.has(name)) {
      const externalData = [
        { key: 'location', value: this.weightsFile },
        { key: 'offset', value: String(range.offset) },
        { key: 'length', value: String(range.length) },
      ];
      const location = onnx.TensorProto.DataLocation.EXTERNAL;
      target.initializers.set(name, { name, dims, dataType: ELEM_TYPES[type], dataLocation: location, externalData });
    }
    return name;
  }

  private weight(name: string): ParamValue {
    const value = this.resolveParam(name);
    if (!value) throw new RangeError(`graph needs weight ${name}, which the model spec does not hold`);
    return value;
  }

  /** A checkpoint weight by its Hugging Face name, as f32, added as an initializer on first use. */
  param(name: string): string {
    const value = this.weight(name);
    if (!('kind' in value)) return this.initializer(name, value);
    if (value.kind === 'f32') return this.external(name, 'float32', value.shape, value.range);
    throw new RangeError(`weight ${name} is quantized: read it with quantized()`);
  }

  /** A checkpoint weight stored quantized, or null when it is f32 (read it with `param`). */
  quantized(name: string): QuantizedParam | null {
    const value = this.weight(name);
    if (!('kind' in value) || value.kind === 'f32') return null;
    const [n, k] = value.shape as [number, number];
    const { bits, blockSize } = value;
    const blocks = k / blockSize;
    return {
      scales: this.external(`${name}/scales`, 'float32', [n, blocks], value.scales),
      n,
      k,
      bits,
      blockSize,
      blocks: () => this.external(name, 'uint8', [n, blocks, (blockSize * bits) / 8], value.data),
      rows: () => this.external(`${name}/rows`, 'uint8', [n, (k * bits) / 8], value.data),
    };
  }

  /** A small int64 constant (shapes, axes, indices). */
  ints(values: readonly number[], dims: number[] = [values.length]): string {
    const name = this.fresh('const_i64');
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    (this.root ?? this).initializers.set(name, { name, dims, dataType: ELEM_TYPES.int64, rawData: bytesOf(data) });
    return name;
  }

  /** A small f32 constant; `dims` [] makes a scalar. */
  floats(values: readonly number[], dims: number[] = [values.length]): string {
    return this.initializer(this.fresh('const_f32'), { shape: dims, data: Float32Array.from(values) });
  }

  /** Adds a node (`domain` '' is ai.onnx); returns its `outputs` output names. */
  op(
    type: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue> = {},
    outputs = 1,
    domain: '' | typeof CONTRIB_DOMAIN = '',
  ): string[] {
    const names = Array.from({ length: outputs }, () => this.fresh(type));
    this.nodes.push({
      opType: type,
      domain,
      name: `${names[0]}/node`,
      input: [...inputs],
      output: names,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return names;
  }

  /** `op` for the common single-output case. */
  op1(
    type: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue> = {},
    domain: '' | typeof CONTRIB_DOMAIN = '',
  ): string {
    return this.op(type, inputs, attrs, 1, domain)[0]!;
  }

  toGraphProto(): OnnxTypes.IGraphProto {
    return {
      name: this.name,
      node: this.nodes,
      input: this.inputs,
      output: this.outputs,
      initializer: this.root ? [] : [...this.initializers.values()],
    };
  }

  /** The model protobuf; stored weights stay in the weights file beside it. */
  build(): Uint8Array {
    const model: OnnxTypes.IModelProto = {
      irVersion: IR_VERSION,
      producerName: 'sambay-serve',
      opsetImport: [
        { domain: '', version: OPSET },
        { domain: CONTRIB_DOMAIN, version: 1 },
      ],
      graph: this.toGraphProto(),
    };
    return onnx.ModelProto.encode(model).finish();
  }
}
