import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkpointLayout } from './checkpoint-layout.js';
import { parseConfig } from './config.js';
import { generateWeights } from './init-weights.js';
import { planLayers } from './layer-plan.js';
import { presetConfig, transformerLayerTypes } from './presets.js';
import { writeSafetensorsStreaming, type StoredDtype } from './safetensors.js';
import { numel } from './tensor.js';

export interface WriteModelOptions {
  /** @defaultValue 'tiny' */
  preset?: string;
  /** @defaultValue 0 */
  seed?: number;
  /** `transformer` makes the baseline of equal width and depth. @defaultValue 'sambay' */
  layerTypes?: 'sambay' | 'transformer';
  /** Overrides the preset's `num_hidden_layers` (a multiple of 4). */
  numLayers?: number;
  /** How tensors are stored. @defaultValue 'F32' */
  dtype?: StoredDtype;
  /**
   * Largest shard; a checkpoint larger than this is written as `model-0000N-of-0000M.safetensors`
   * shards with a `model.safetensors.index.json`, as Hugging Face does. @defaultValue 2 GiB
   */
  shardBytes?: number;
}

interface Shard {
  file: string;
  tensors: { name: string; shape: number[] }[];
}

/** Consecutive tensors, each shard at most `shardBytes` (a larger tensor gets a shard of its own). */
function planShards(tensors: { name: string; shape: number[] }[], bytesPerValue: number, shardBytes: number): Shard[] {
  const groups: { name: string; shape: number[] }[][] = [[]];
  let size = 0;
  for (const t of tensors) {
    const bytes = numel(t.shape) * bytesPerValue;
    if (size > 0 && size + bytes > shardBytes) {
      groups.push([]);
      size = 0;
    }
    groups.at(-1)!.push(t);
    size += bytes;
  }
  if (groups.length === 1) return [{ file: 'model.safetensors', tensors: groups[0]! }];
  const count = String(groups.length).padStart(5, '0');
  return groups.map((group, i) => ({
    file: `model-${String(i + 1).padStart(5, '0')}-of-${count}.safetensors`,
    tensors: group,
  }));
}

/**
 * Writes config.json, generation_config.json and the checkpoint with deterministic weights (same
 * options, same bytes), one tensor in memory at a time, so a model of the published size can be
 * written on a machine that could not hold it in f32.
 */
export async function writeModelDir(dir: string, options: WriteModelOptions = {}): Promise<void> {
  const raw = presetConfig(options.preset ?? 'tiny');
  if (options.numLayers !== undefined) raw.num_hidden_layers = options.numLayers;
  if (options.layerTypes === 'transformer') raw.layer_types = transformerLayerTypes(raw.num_hidden_layers as number);
  const config = parseConfig(raw);
  const plan = planLayers(config);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(raw, null, 2)}\n`);
  const generation = { bos_token_id: raw.bos_token_id, eos_token_id: raw.eos_token_id };
  await writeFile(join(dir, 'generation_config.json'), `${JSON.stringify(generation, null, 2)}\n`);

  const dtype = options.dtype ?? 'F32';
  const bytesPerValue = dtype === 'F32' ? 4 : 2;
  const tensors = [...checkpointLayout(config, plan)].map(([name, shape]) => ({ name, shape }));
  const shards = planShards(tensors, bytesPerValue, options.shardBytes ?? 2 * 2 ** 30);
  const weights = generateWeights(config, plan, options.seed ?? 0);
  const next = (name: string) => {
    const [generated, t] = weights.next().value as [string, { data: Float32Array }];
    if (generated !== name) throw new Error(`weights generated out of order: ${generated} for ${name}`);
    return t.data;
  };
  for (const shard of shards) writeSafetensorsStreaming(join(dir, shard.file), shard.tensors, next, dtype);
  if (shards.length > 1) {
    const weightMap = Object.fromEntries(shards.flatMap((s) => s.tensors.map((t) => [t.name, s.file])));
    const totalSize = tensors.reduce((sum, t) => sum + numel(t.shape) * bytesPerValue, 0);
    const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
    await writeFile(join(dir, 'model.safetensors.index.json'), `${JSON.stringify(index, null, 2)}\n`);
  }
}
