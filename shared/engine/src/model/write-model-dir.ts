import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig } from './config.js';
import { initWeights } from './init-weights.js';
import { planLayers } from './layer-plan.js';
import { presetConfig, transformerLayerTypes } from './presets.js';
import { writeSafetensors } from './safetensors.js';

export interface WriteModelOptions {
  /** @defaultValue 'tiny' */
  preset?: string;
  /** @defaultValue 0 */
  seed?: number;
  /** `transformer` makes the baseline of equal width and depth. @defaultValue 'sambay' */
  layerTypes?: 'sambay' | 'transformer';
}

/** Writes config.json and model.safetensors with deterministic weights: same options, same bytes. */
export async function writeModelDir(dir: string, options: WriteModelOptions = {}): Promise<void> {
  const raw = presetConfig(options.preset ?? 'tiny');
  if (options.layerTypes === 'transformer') raw.layer_types = transformerLayerTypes(raw.num_hidden_layers as number);
  const config = parseConfig(raw);
  const plan = planLayers(config);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(raw, null, 2)}\n`);
  await writeSafetensors(join(dir, 'model.safetensors'), initWeights(config, plan, options.seed ?? 0));
}
