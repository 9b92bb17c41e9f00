import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { buildDecodeGraph } from '../graph/decode-graph.js';
import type { WeightResolver } from '../graph/onnx/onnx-builder.js';
import { buildPrefillGraph } from '../graph/prefill-graph.js';
import { writeWeightFile, type WeightMode } from '../graph/weights/weight-file.js';
import type { ModelSpec } from '../model/model-spec.js';
import type { Feeds, ModelRunner } from '../state/model-runner.js';
import { SequenceBatch, type BatchOptions } from '../state/sequence-batch.js';
import { ModelReleasedError } from './runtime-errors.js';
import { cachedWeightFile, graphFileTag } from './weight-cache.js';

export interface RuntimeOptions {
  /**
   * Where the graphs run. `cuda` needs an onnxruntime-node build with CUDA; `webgpu` is bundled.
   * @defaultValue 'cpu'
   */
  executionProvider?: 'cpu' | 'cuda' | 'webgpu';
  /** Threads ORT uses inside one op. @defaultValue ORT's choice (the number of cores) */
  intraOpThreads?: number;
  /**
   * How linear weights and the embedding are held: f32, or weight-only blockwise int8 / int4
   * (MatMulNBits; activations stay f32). @defaultValue 'f32'
   */
  weights?: WeightMode;
  /**
   * Where the compiled graphs and their weights file are written; given, the model is compiled to
   * files whatever its size. @defaultValue a new temporary directory, removed on release (small f32
   * models in memory are compiled in memory)
   */
  compileDir?: string;
  /**
   * Where weights files are kept across processes (weight-cache.ts), for weights read from a
   * checkpoint on disk: a model whose checkpoint files, weight mode and file format are unchanged
   * reuses the file a previous process wrote instead of converting the checkpoint again.
   * @defaultValue none: every compile writes its weights
   */
  weightCacheDir?: string;
  /**
   * The graph decode steps run: the decode graph in a session of its own, or the prefill graph on
   * one-token chunks, which keeps one copy of the weights. @defaultValue 'decode' for weights up
   * to 256 MiB, 'prefill' above
   */
  decodeGraph?: 'decode' | 'prefill';
}

/**
 * Weights up to this size are compiled into the graphs in memory; larger ones (and every quantized
 * model) go to a weights file the graphs read as ONNX external data, which onnxruntime maps instead
 * of copying and which has no 2 GB protobuf limit.
 */
const IN_MEMORY_WEIGHT_BYTES = 256 * 2 ** 20;

/**
 * Up to this size the decode graph gets a session of its own. Each session prepacks its own copy of
 * the f32 matrices, so above it the prefill graph, run on one-token chunks, also decodes: one copy
 * of the weights, for a few more small ops per step (docs/model.md#weights-in-memory).
 */
const SEPARATE_DECODE_WEIGHT_BYTES = 256 * 2 ** 20;

/** Total bytes of weights held in memory. */
function f32Bytes(spec: ModelSpec): number {
  let bytes = 0;
  for (const name of spec.weights.keys()) bytes += spec.weights.get(name)!.data.byteLength;
  return bytes;
}

interface Compiled {
  prefill: ort.InferenceSession;
  decode: ort.InferenceSession | null;
  /** Removes the files this model wrote for itself (not a cached weights file). */
  cleanup: () => Promise<void>;
  weightBytes: number;
}

/**
 * A model compiled for onnxruntime: the prefill graph (and, for small models, a decode graph) built
 * from the spec, one ORT session for each, created once. Batches made by `newBatch` share them.
 */
export class CompiledModel implements ModelRunner {
  private released = false;

  private constructor(
    readonly spec: ModelSpec,
    private readonly compiled: Compiled,
  ) {}

  static async create(spec: ModelSpec, options: RuntimeOptions = {}): Promise<CompiledModel> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [options.executionProvider ?? 'cpu'],
      ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
    };
    const mode = options.weights ?? 'f32';
    const inMemory =
      mode === 'f32' &&
      options.compileDir === undefined &&
      spec.weights instanceof Map &&
      f32Bytes(spec) <= IN_MEMORY_WEIGHT_BYTES;
    const compiled = inMemory
      ? await compileInMemory(spec, options, sessionOptions)
      : await compileToFiles(spec, mode, options, sessionOptions);
    return new CompiledModel(spec, compiled);
  }

  /** Bytes of the weights as the graphs hold them (f32 or quantized). */
  get weightBytes(): number {
    return this.compiled.weightBytes;
  }

  newBatch(options: BatchOptions = {}): SequenceBatch {
    this.checkLive();
    return new SequenceBatch(this.spec, this, options);
  }

  prefill(feeds: Feeds): Promise<Feeds> {
    return this.run(this.compiled.prefill, feeds);
  }

  /** One token per slot; through the prefill graph as chunks of one when there is no decode graph. */
  decode(feeds: Feeds): Promise<Feeds> {
    if (this.compiled.decode) return this.run(this.compiled.decode, feeds);
    const ids = feeds.input_ids!;
    const batch = ids.dims[0]!;
    return this.run(this.compiled.prefill, {
      ...feeds,
      input_ids: new ort.Tensor('int64', ids.data as BigInt64Array, [batch, 1]),
      lengths: new ort.Tensor('int64', new BigInt64Array(batch).fill(1n), [batch]),
    });
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const { prefill, decode, cleanup } = this.compiled;
    await Promise.all([prefill.release(), decode?.release()]);
    await cleanup();
  }

  private async run(session: ort.InferenceSession, feeds: Feeds): Promise<Feeds> {
    this.checkLive();
    return await session.run(feeds);
  }

  private checkLive(): void {
    if (this.released) throw new ModelReleasedError();
  }
}

const ownDecodeGraph = (options: RuntimeOptions, weightBytes: number) =>
  (options.decodeGraph ?? (weightBytes <= SEPARATE_DECODE_WEIGHT_BYTES ? 'decode' : 'prefill')) === 'decode';

async function compileInMemory(
  spec: ModelSpec,
  options: RuntimeOptions,
  sessionOptions: ort.InferenceSession.SessionOptions,
): Promise<Compiled> {
  const weights: WeightResolver = (name) => spec.weights.get(name);
  const weightBytes = f32Bytes(spec);
  const decode = ownDecodeGraph(options, weightBytes) ? buildDecodeGraph(spec, weights) : null;
  return {
    prefill: await ort.InferenceSession.create(buildPrefillGraph(spec, weights), sessionOptions),
    decode: decode && (await ort.InferenceSession.create(decode, sessionOptions)),
    cleanup: () => Promise.resolve(),
    weightBytes,
  };
}

/**
 * A weights file and graph files beside it (ORT reads external data only from the graph's own
 * directory, links resolved); sessions load them by path, so the weights are mapped. From the weight
 * cache, the graphs go into the cache entry under names of their own, removed on release; otherwise
 * everything goes to `compileDir` or a temporary directory of this model's.
 */
async function compileToFiles(
  spec: ModelSpec,
  mode: WeightMode,
  options: RuntimeOptions,
  sessionOptions: ort.InferenceSession.SessionOptions,
): Promise<Compiled> {
  const cached = options.weightCacheDir ? cachedWeightFile(options.weightCacheDir, spec.weights, mode) : null;
  const ownDir = cached || options.compileDir ? null : await mkdtemp(join(tmpdir(), 'sambay-compiled-'));
  const target = cached ? dirname(cached.path) : (options.compileDir ?? ownDir!);
  const graphName = (name: string) => (cached ? `${name}.${graphFileTag()}.onnx` : `${name}.onnx`);
  const written: string[] = []; // graphs in a cache entry, this model's alone
  const cleanup = async () => {
    await Promise.all(written.map((path) => rm(path, { force: true })));
    if (ownDir) await rm(ownDir, { recursive: true, force: true });
  };
  try {
    await mkdir(target, { recursive: true });
    const file = cached ?? writeWeightFile(join(target, 'weights.bin'), spec.weights, mode);
    const weights: WeightResolver = (name) => file.weights.get(name);
    const session = async (name: string, graph: Uint8Array) => {
      const path = join(target, graphName(name));
      if (cached) written.push(path); // a compileDir keeps its graphs (the worker removes its own)
      await writeFile(path, graph);
      return ort.InferenceSession.create(path, sessionOptions);
    };
    const prefill = await session('prefill', buildPrefillGraph(spec, weights));
    const decode = ownDecodeGraph(options, file.bytes)
      ? await session('decode', buildDecodeGraph(spec, weights))
      : null;
    return { prefill, decode, cleanup, weightBytes: file.bytes };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
