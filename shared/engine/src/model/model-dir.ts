import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkpointLayout, isIgnoredTensor } from './checkpoint-layout.js';
import { parseConfig } from './config.js';
import { planLayers } from './layer-plan.js';
import { CheckpointError, ModelDirError } from './model-errors.js';
import type { ModelSpec } from './model-spec.js';
import { readSafetensors } from './safetensors.js';
import type { Weights } from './tensor.js';

/** A model directory in the Hugging Face layout, validated and loaded to f32. */
export interface LoadedModel extends ModelSpec {
  dir: string;
  /** dir/tokenizer.json when present; the byte-level tokenizer is used otherwise. */
  tokenizerPath: string | null;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ModelDirError(`${path}: ${what} is missing or unreadable`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelDirError(`${path}: ${what} is not valid JSON (${(error as Error).message})`);
  }
}

/** model.safetensors, or the shards a model.safetensors.index.json maps names to. */
async function readCheckpoint(dir: string): Promise<Weights> {
  const single = join(dir, 'model.safetensors');
  if (await exists(single)) return readSafetensors(single);
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (!(await exists(indexPath))) {
    throw new ModelDirError(`${dir}: no model.safetensors (nor model.safetensors.index.json for a sharded checkpoint)`);
  }
  const index = (await readJson(indexPath, 'the shard index')) as { weight_map?: unknown };
  if (typeof index.weight_map !== 'object' || index.weight_map === null) {
    throw new ModelDirError(`${indexPath}: \`weight_map\` is missing`);
  }
  const shards = new Set(Object.values(index.weight_map as Record<string, unknown>));
  if (![...shards].every((shard) => typeof shard === 'string')) {
    throw new ModelDirError(`${indexPath}: \`weight_map\` must map tensor names to shard file names`);
  }
  const weights: Weights = new Map();
  for (const shard of shards as Set<string>) {
    const shardPath = join(dir, shard);
    if (!(await exists(shardPath))) throw new ModelDirError(`${indexPath}: shard ${shard} is missing`);
    for (const [name, t] of await readSafetensors(shardPath)) weights.set(name, t);
  }
  return weights;
}

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** Every tensor the layout names, of the right shape, and nothing unexpected; ignored extras are dropped. */
function validateWeights(weights: Weights, spec: Omit<ModelSpec, 'weights'>): Weights {
  const layout = checkpointLayout(spec.config, spec.plan);
  for (const [name, shape] of [...layout].sort(([a], [b]) => a.localeCompare(b))) {
    const found = weights.get(name);
    if (!found)
      throw new CheckpointError('missing', name, `missing tensor \`${name}\` (expected shape ${shapeText(shape)})`);
    if (found.shape.length !== shape.length || found.shape.some((n, i) => n !== shape[i])) {
      throw new CheckpointError(
        'shape',
        name,
        `tensor \`${name}\` has shape ${shapeText(found.shape)}, expected ${shapeText(shape)}`,
      );
    }
  }
  const unexpected = [...weights.keys()]
    .sort()
    .find((name) => !layout.has(name) && !isIgnoredTensor(name, spec.config));
  if (unexpected) {
    throw new CheckpointError(
      'unexpected',
      unexpected,
      `unexpected tensor \`${unexpected}\`: the layer plan has no place for it`,
    );
  }
  return new Map([...weights].filter(([name]) => layout.has(name)));
}

/** Loads and validates config.json and the checkpoint; every error names what is wrong. */
export async function loadModelDir(dir: string): Promise<LoadedModel> {
  const config = parseConfig(await readJson(join(dir, 'config.json'), 'config.json'));
  const plan = planLayers(config);
  const weights = validateWeights(await readCheckpoint(dir), { config, plan });
  const tokenizerPath = join(dir, 'tokenizer.json');
  return { dir, config, plan, weights, tokenizerPath: (await exists(tokenizerPath)) ? tokenizerPath : null };
}
