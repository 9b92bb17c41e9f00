#!/usr/bin/env node
// Writes the built-in model (preset tiny, seed 0) to a directory unless one is already there.
// Used by `npm start` and by the compose `model-init` service: `node scripts/ensure-model.js [DIR]`.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Returns true when it wrote a model, false when `dir` already held one. */
export async function ensureModel(dir) {
  if (existsSync(join(dir, 'config.json'))) return false;
  // Imported here so a missing build shows up as a clear message from the caller, not at load.
  const { writeModelDir } = await import('@sambay/engine/model');
  await writeModelDir(dir, { preset: 'tiny', seed: 0 });
  return true;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = resolve(process.argv[2] ?? process.env.MODEL_DIR ?? '.models/tiny');
  const wrote = await ensureModel(dir);
  console.log(wrote ? `wrote the built-in model (tiny, seed 0) to ${dir}` : `model already present at ${dir}`);
}
