import {
  CompiledModel,
  Scheduler,
  type FinishReason,
  type GenerationEvent,
  type GenerationRequest,
} from '@sambay/engine';
import { loadModelDir } from '@sambay/engine/model';
import type { JobRequest } from '@sambay/protocol';
import { loadTokenizer, type Tokenizer } from '@sambay/tokenizer';

/** The HTTP job fields a reference run reads (priority and metadata change nothing it generates). */
export type JobBody = Omit<JobRequest, 'priority' | 'metadata'>;

/** One generation by the engine alone, uninterrupted: what a job must produce however its workers fared. */
export interface AloneOutput {
  tokenIds: number[];
  text: string;
  reason: FinishReason;
  promptTokens: number;
  generatedTokens: number;
}

interface Run {
  out: AloneOutput;
  resolve: (out: AloneOutput) => void;
  reject: (error: Error) => void;
}

/** A Scheduler of one sequence over its own compiled model, in this process: the tests' reference output. */
export class EngineAlone {
  private readonly runs = new Map<string, Run>();
  private readonly scheduler: Scheduler;
  private next = 0;

  private constructor(
    private readonly model: CompiledModel,
    tokenizer: Tokenizer,
  ) {
    this.scheduler = new Scheduler(model, tokenizer, {
      maxSequences: 1,
      onEvent: (event) => {
        this.onEvent(event);
      },
    });
  }

  static async load(modelDir: string): Promise<EngineAlone> {
    const spec = await loadModelDir(modelDir);
    const tokenizer = await loadTokenizer(spec.tokenizerPath, spec.config);
    return new EngineAlone(await CompiledModel.create(spec), tokenizer);
  }

  /** Maps the HTTP fields by their documented meaning (written here, not taken from the worker). */
  run(body: JobBody): Promise<AloneOutput> {
    const request: GenerationRequest = {
      id: `alone-${this.next++}`,
      prompt: body.prompt,
      maxTokens: body.max_tokens,
      sampling: { temperature: body.temperature, topP: body.top_p, topK: body.top_k, seed: body.seed },
      stop: body.stop,
      ignoreEos: body.ignore_eos === true,
    };
    return new Promise((resolve, reject) => {
      const out: AloneOutput = { tokenIds: [], text: '', reason: 'length', promptTokens: 0, generatedTokens: 0 };
      this.runs.set(request.id, { out, resolve, reject });
      this.scheduler.submit(request);
    });
  }

  async close(): Promise<void> {
    await this.scheduler.close();
    await this.model.release();
  }

  private onEvent(event: GenerationEvent): void {
    const run = this.runs.get(event.id)!;
    if (event.type === 'tokens') {
      run.out.tokenIds.push(...event.tokenIds);
      run.out.text += event.text;
    } else if (event.type === 'finished') {
      Object.assign(run.out, {
        reason: event.reason,
        promptTokens: event.promptTokens,
        generatedTokens: event.generatedTokens,
      });
      run.resolve(run.out);
    } else if (event.type === 'failed') {
      run.reject(new Error(`engine alone failed: ${event.message}`));
    }
  }
}

/** Runs `requests` through the engine alone, one sequence at a time, and releases it. */
export async function referenceOutputs(modelDir: string, requests: JobBody[]): Promise<AloneOutput[]> {
  const alone = await EngineAlone.load(modelDir);
  try {
    return await Promise.all(requests.map((request) => alone.run(request)));
  } finally {
    await alone.close();
  }
}
