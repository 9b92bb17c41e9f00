import { parseArgs } from 'node:util';
import type { GenerationEvent } from '../../generation/generation-request.js';
import { loadScheduler } from '../../generation/load-scheduler.js';
import { numberOption, requireOption, weightModeOption } from './args.js';

export const generateUsage =
  'sambay generate --model DIR --prompt TEXT [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S] [--stop STR]... [--weights f32|int8|int4]';

/** Streams the completion to stdout as it is produced; a summary line goes to stderr. */
export async function generate(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      prompt: { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      'top-k': { type: 'string' },
      seed: { type: 'string' },
      stop: { type: 'string', multiple: true },
      weights: { type: 'string' },
    },
  });
  const prompt = requireOption(values, 'prompt');
  let outcome: GenerationEvent | undefined;
  const scheduler = await loadScheduler(requireOption(values, 'model'), {
    maxSequences: 1,
    weights: weightModeOption(values),
    onEvent: (event) => {
      if (event.type === 'tokens') process.stdout.write(event.text);
      else if (event.type === 'finished' || event.type === 'failed') outcome = event;
    },
  });
  scheduler.submit({
    id: 'cli',
    prompt,
    maxTokens: numberOption(values, 'max-tokens', 128, true),
    sampling: {
      temperature: numberOption(values, 'temperature', 0),
      topP: numberOption(values, 'top-p', 1),
      topK: numberOption(values, 'top-k', 0, true),
      seed: numberOption(values, 'seed', 0, true),
    },
    stop: values.stop ?? [],
  });
  await scheduler.close();
  process.stdout.write('\n');
  if (outcome?.type === 'failed') throw new Error(outcome.message);
  if (outcome?.type === 'finished') {
    process.stderr.write(
      `[finish_reason=${outcome.reason} prompt_tokens=${outcome.promptTokens} generated_tokens=${outcome.generatedTokens}]\n`,
    );
  }
}
