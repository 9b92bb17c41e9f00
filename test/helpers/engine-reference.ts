import { CompiledModel, type GenerationRequest, Scheduler } from '@sambay/engine';
import { loadModelDir } from '@sambay/engine/model';
import type { JobRequest } from '@sambay/protocol';
import { loadTokenizer } from '@sambay/tokenizer';

/** What the engine alone generates for one request, uninterrupted. */
export interface ReferenceOutput {
  tokenIds: number[];
  text: string;
}

/**
 * Runs `requests` through the engine alone, in this process, one sequence at a time: the output a
 * job must have however many times its workers died. The HTTP fields are mapped by their documented
 * meaning (written here, not taken from the worker).
 */
export async function referenceOutputs(modelDir: string, requests: JobRequest[]): Promise<ReferenceOutput[]> {
  const model = await loadModelDir(modelDir);
  const tokenizer = await loadTokenizer(model.tokenizerPath, model.config);
  const compiled = await CompiledModel.create(model);
  const outputs = requests.map((): ReferenceOutput => ({ tokenIds: [], text: '' }));
  const failures: string[] = [];
  const scheduler = new Scheduler(compiled, tokenizer, {
    maxSequences: 1,
    onEvent: (event) => {
      const out = outputs[Number(event.id)]!;
      if (event.type === 'tokens') {
        out.tokenIds.push(...event.tokenIds);
        out.text += event.text;
      } else if (event.type === 'failed') failures.push(event.message);
    },
  });
  requests.forEach((r, i) => {
    const request: GenerationRequest = {
      id: String(i),
      prompt: r.prompt,
      maxTokens: r.max_tokens,
      sampling: { temperature: r.temperature, topP: r.top_p, topK: r.top_k, seed: r.seed },
      stop: r.stop,
      ignoreEos: r.ignore_eos === true,
    };
    scheduler.submit(request);
  });
  await scheduler.close();
  await compiled.release();
  if (failures.length > 0) throw new Error(`the reference run failed: ${failures.join('; ')}`);
  return outputs;
}
