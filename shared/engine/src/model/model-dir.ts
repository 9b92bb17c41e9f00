import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readGenerationConfig, TokenizerError, withGenerationConfig, type GenerationConfig } from '@sambay/tokenizer';
import { checkpointLayout, isIgnoredTensor } from './checkpoint-layout.js';
import { CheckpointWeights } from './checkpoint.js';
import { parseConfig } from './config.js';
import { planLayers } from './layer-plan.js';
import { CheckpointError, ModelDirError } from './model-errors.js';
import type { ModelSpec } from './model-spec.js';
import { SafetensorsFile } from './safetensors.js';

/** A model directory in the Hugging Face layout, validated; tensors are read when compiled. */
export interface LoadedModel extends ModelSpec {
  weights: CheckpointWeights;
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

/** model.safetensors, or the shards a model.safetensors.index.json maps names to, opened (headers only). */
async function openShards(dir: string): Promise<SafetensorsFile[]> {
  const single = join(dir, 'model.safetensors');
  if (await exists(single)) return [SafetensorsFile.open(single)];
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
  const files: SafetensorsFile[] = [];
  try {
    for (const shard of shards as Set<string>) {
      const shardPath = join(dir, shard);
      if (!(await exists(shardPath))) throw new ModelDirError(`${indexPath}: shard ${shard} is missing`);
      files.push(SafetensorsFile.open(shardPath));
    }
  } catch (error) {
    for (const file of files) file.close();
    throw error;
  }
  return files;
}

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * Every tensor the layout names, of the right shape, and nothing unexpected; ignored extras are
 * left out. Checked from the headers alone, before any tensor is read.
 */
function checkpointWeights(files: SafetensorsFile[], spec: Omit<ModelSpec, 'weights'>): CheckpointWeights {
  const fileOf = new Map<string, SafetensorsFile>();
  for (const file of files) for (const name of file.names()) fileOf.set(name, file);
  const layout = checkpointLayout(spec.config, spec.plan);
  for (const [name, shape] of [...layout].sort(([a], [b]) => a.localeCompare(b))) {
    const found = fileOf.get(name)?.shape(name);
    if (!found)
      throw new CheckpointError('missing', name, `missing tensor \`${name}\` (expected shape ${shapeText(shape)})`);
    if (found.length !== shape.length || found.some((n, i) => n !== shape[i])) {
      throw new CheckpointError(
        'shape',
        name,
        `tensor \`${name}\` has shape ${shapeText(found)}, expected ${shapeText(shape)}`,
      );
    }
  }
  const unexpected = [...fileOf.keys()].sort().find((name) => !layout.has(name) && !isIgnoredTensor(name, spec.config));
  if (unexpected) {
    throw new CheckpointError(
      'unexpected',
      unexpected,
      `unexpected tensor \`${unexpected}\`: the layer plan has no place for it`,
    );
  }
  return new CheckpointWeights(new Map([...fileOf].filter(([name]) => layout.has(name))));
}

/** generation_config.json's special ids; its errors are config errors of the model directory. */
async function generationConfig(dir: string): Promise<GenerationConfig | null> {
  try {
    return await readGenerationConfig(dir);
  } catch (error) {
    if (error instanceof TokenizerError) throw new ModelDirError(error.message);
    throw error;
  }
}

/** Loads and validates config.json and the checkpoint; every error names what is wrong. */
export async function loadModelDir(dir: string): Promise<LoadedModel> {
  const parsed = parseConfig(await readJson(join(dir, 'config.json'), 'config.json'));
  const config = { ...parsed, ...withGenerationConfig(parsed, await generationConfig(dir)) };
  const plan = planLayers(config);
  const files = await openShards(dir);
  let weights: CheckpointWeights;
  try {
    weights = checkpointWeights(files, { config, plan });
  } catch (error) {
    for (const file of files) file.close();
    throw error;
  }
  const tokenizerPath = join(dir, 'tokenizer.json');
  return { dir, config, plan, weights, tokenizerPath: (await exists(tokenizerPath)) ? tokenizerPath : null };
}
