import { parseArgs } from 'node:util';
import { loadModelDir } from '../../model/model-dir.js';
import type { ModelSpec } from '../../model/model-spec.js';
import { referenceLogits } from '../../reference/forward.js';
import { CompiledModel } from '../../runtime/compiled-model.js';
import { idList, numberOption, requireOption, UsageError, weightModeOption } from './args.js';

export const logitsUsage =
  'sambay logits --model DIR --ids 5,9,13 [--prefill K] [--weights f32|int8|int4] [--reference]';

/** The pure-TypeScript reference's logits for `ids` and how far `logits` are from them (max |diff| / max |ref|). */
function againstReference(model: ModelSpec, ids: number[], logits: Float32Array) {
  const expected = referenceLogits(model, ids).at(-1)!;
  let diff = 0;
  let scale = 0;
  expected.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - logits[i]!));
    scale = Math.max(scale, Math.abs(v));
  });
  return { reference_logits: Array.from(expected), max_abs_diff: diff, relative_error: diff / scale };
}

/**
 * Feeds the first K ids through prefill and the rest through decode steps one at a time, then
 * prints the logits at the last position: the cached path end to end, for checking against
 * another implementation.
 */
export async function logits(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      ids: { type: 'string' },
      prefill: { type: 'string' },
      weights: { type: 'string' },
      reference: { type: 'boolean', default: false },
    },
  });
  const ids = idList(requireOption(values, 'ids'), 'ids');
  const prefill = numberOption(values, 'prefill', Math.max(1, ids.length - 1), true);
  if (prefill < 1 || prefill > ids.length)
    throw new UsageError(`--prefill must be between 1 and ${ids.length}, got ${prefill}`);
  const model = await loadModelDir(requireOption(values, 'model'));
  const outOfVocab = ids.find((id) => id >= model.config.vocabSize);
  if (outOfVocab !== undefined)
    throw new UsageError(`token id ${outOfVocab} is outside the vocabulary (size ${model.config.vocabSize})`);
  const compiled = await CompiledModel.create(model, { weights: weightModeOption(values) });
  const batch = compiled.newBatch();
  const [first] = await batch.prefill([ids.slice(0, prefill)]);
  let last = first!.logits;
  for (const token of ids.slice(prefill)) last = (await batch.step(new Map([[first!.id, token]]))).get(first!.id)!;
  await compiled.release();
  process.stdout.write(
    `${JSON.stringify({ logits: Array.from(last), ...(values.reference ? againstReference(model, ids, last) : {}) })}\n`,
  );
}
