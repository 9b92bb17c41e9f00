import { InferenceEngine, type EngineOptions } from '../engine/inference-engine.js';
import { loadModelDir } from '../model/model-dir.js';
import { loadTokenizer } from '../tokenizer/load-tokenizer.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

/** Model directory -> engine sessions -> tokenizer -> a scheduler ready to take requests. */
export async function loadScheduler(modelDir: string, options: SchedulerOptions & EngineOptions): Promise<Scheduler> {
  const model = await loadModelDir(modelDir);
  const tokenizer = await loadTokenizer(model.tokenizerPath, model.config);
  const engine = await InferenceEngine.create(model, options);
  return new Scheduler(engine, tokenizer, options);
}
