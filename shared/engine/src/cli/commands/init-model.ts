import { parseArgs } from 'node:util';
import { writeModelDir } from '../../model/write-model-dir.js';
import { numberOption, requireOption, UsageError } from './args.js';

export const initModelUsage =
  'sambay init-model --out DIR [--seed S] [--preset tiny|small] [--layer-types sambay|transformer]';

export async function initModel(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      seed: { type: 'string' },
      preset: { type: 'string' },
      'layer-types': { type: 'string' },
    },
  });
  const layerTypes = values['layer-types'] ?? 'sambay';
  if (layerTypes !== 'sambay' && layerTypes !== 'transformer') {
    throw new UsageError(`--layer-types must be sambay or transformer, got ${JSON.stringify(layerTypes)}`);
  }
  const out = requireOption(values, 'out');
  await writeModelDir(out, {
    preset: values.preset ?? 'tiny',
    seed: numberOption(values, 'seed', 0, true),
    layerTypes,
  });
  process.stderr.write(`wrote model to ${out}\n`);
}
