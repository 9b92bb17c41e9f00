import { loadTokenizer } from '@sambay/tokenizer';
import { loadModelDir, type LoadedModel } from '../model/model-dir.js';
import { CompiledModel, type RuntimeOptions } from '../runtime/compiled-model.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

/** Model directory -> compiled model -> tokenizer -> a scheduler ready to take requests. */
export async function loadScheduler(modelDir: string, options: SchedulerOptions & RuntimeOptions): Promise<Scheduler> {
  return startScheduler(await loadModelDir(modelDir), options);
}

/** `loadScheduler` for a model directory already read (its config can choose the options). */
export async function startScheduler(
  spec: LoadedModel,
  options: SchedulerOptions & RuntimeOptions,
): Promise<Scheduler> {
  const tokenizer = await loadTokenizer(spec.tokenizerPath, spec.config);
  const model = await CompiledModel.create(spec, options);
  return new Scheduler(model, tokenizer, options);
}
