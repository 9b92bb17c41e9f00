import { parseArgs } from 'node:util';
import type { StoredDtype } from '../../model/safetensors.js';
import { writeModelDir } from '../../model/write-model-dir.js';
import { numberOption, requireOption, UsageError } from './args.js';

export const initModelUsage =
  'sambay init-model --out DIR [--seed S] [--preset tiny|small|phi4-mini-flash] [--layers N] [--dtype f32|bf16|f16] [--layer-types sambay|transformer]';

const DTYPES: Record<string, StoredDtype> = { f32: 'F32', bf16: 'BF16', f16: 'F16' };

export async function initModel(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      seed: { type: 'string' },
      preset: { type: 'string' },
      'layer-types': { type: 'string' },
      layers: { type: 'string' },
      dtype: { type: 'string' },
    },
  });
  const layerTypes = values['layer-types'] ?? 'sambay';
  if (layerTypes !== 'sambay' && layerTypes !== 'transformer') {
    throw new UsageError(`--layer-types must be sambay or transformer, got ${JSON.stringify(layerTypes)}`);
  }
  const dtype = DTYPES[values.dtype ?? 'f32'];
  if (!dtype) throw new UsageError(`--dtype must be f32, bf16 or f16, got ${JSON.stringify(values.dtype)}`);
  const out = requireOption(values, 'out');
  await writeModelDir(out, {
    preset: values.preset ?? 'tiny',
    seed: numberOption(values, 'seed', 0, true),
    layerTypes,
    dtype,
    ...(values.layers === undefined ? {} : { numLayers: numberOption(values, 'layers', 0, true) }),
  });
  process.stderr.write(`wrote model to ${out}\n`);
}
