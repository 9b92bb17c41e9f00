import ort from 'onnxruntime-node';
import { buildDecodeGraph } from '../graph/decode-graph.js';
import { buildPrefillGraph } from '../graph/prefill-graph.js';
import type { ModelSpec } from '../model/model-spec.js';
import type { Feeds, ModelRunner } from '../state/model-runner.js';
import { SequenceBatch, type BatchOptions } from '../state/sequence-batch.js';
import { ModelReleasedError } from './runtime-errors.js';

export interface RuntimeOptions {
  /**
   * Where the graphs run. `cuda` needs an onnxruntime-node build with CUDA; `webgpu` is bundled.
   * @defaultValue 'cpu'
   */
  executionProvider?: 'cpu' | 'cuda' | 'webgpu';
  /** Threads ORT uses inside one op. @defaultValue ORT's choice (the number of cores) */
  intraOpThreads?: number;
}

/**
 * A model compiled for onnxruntime: the prefill and decode graphs built from the spec and one ORT
 * session for each, created once. Batches made by `newBatch` share the sessions.
 * Each session holds its own copy of the weights (2x weight memory); sharing them is future work.
 */
export class CompiledModel implements ModelRunner {
  private released = false;

  private constructor(
    readonly spec: ModelSpec,
    private readonly prefillSession: ort.InferenceSession,
    private readonly decodeSession: ort.InferenceSession,
  ) {}

  static async create(spec: ModelSpec, options: RuntimeOptions = {}): Promise<CompiledModel> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: [options.executionProvider ?? 'cpu'],
      ...(options.intraOpThreads ? { intraOpNumThreads: options.intraOpThreads } : {}),
    };
    const prefill = await ort.InferenceSession.create(buildPrefillGraph(spec), sessionOptions);
    const decode = await ort.InferenceSession.create(buildDecodeGraph(spec), sessionOptions);
    return new CompiledModel(spec, prefill, decode);
  }

  newBatch(options: BatchOptions = {}): SequenceBatch {
    this.checkLive();
    return new SequenceBatch(this.spec, this, options);
  }

  prefill(feeds: Feeds): Promise<Feeds> {
    return this.run(this.prefillSession, feeds);
  }

  decode(feeds: Feeds): Promise<Feeds> {
    return this.run(this.decodeSession, feeds);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await Promise.all([this.prefillSession.release(), this.decodeSession.release()]);
  }

  private async run(session: ort.InferenceSession, feeds: Feeds): Promise<Feeds> {
    this.checkLive();
    return await session.run(feeds);
  }

  private checkLive(): void {
    if (this.released) throw new ModelReleasedError();
  }
}
