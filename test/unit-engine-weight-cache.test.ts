// The weights cache (MODEL_WEIGHT_CACHE_DIR): a second compile of the same checkpoint in the same
// weight mode reuses the weights file the first wrote, and computes the same logits; a rewritten
// checkpoint or another mode gets an entry of its own; what a killed process left is removed, and so
// is an entry unused for a week unless a live process has graphs in it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CompiledModel, type RuntimeOptions } from '@sambay/engine';
import { loadModelDir, writeModelDir } from '@sambay/engine/model';

let root: string;
let modelDir: string;
let cacheDir: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'sambay-weight-cache-'));
  modelDir = join(root, 'model');
  cacheDir = join(root, 'cache');
  await writeModelDir(modelDir, { preset: 'tiny', seed: 3 });
});
after(() => rm(root, { recursive: true, force: true }));

/** Compiles the checkpoint with the cache and returns its logits after a short prompt. */
async function compile(options: RuntimeOptions = {}): Promise<Float32Array> {
  const spec = await loadModelDir(modelDir);
  const engine = await CompiledModel.create(spec, { intraOpThreads: 1, weightCacheDir: cacheDir, ...options });
  try {
    const [first] = await engine.newBatch().prefill([[256, 72, 101, 108, 108, 111]]);
    return first!.logits.slice();
  } finally {
    await engine.release();
  }
}

const entries = async () => (await readdir(cacheDir)).sort();

test('a second compile of the same checkpoint reuses the cached weights file and computes the same logits', async () => {
  const first = await compile();
  const [entry] = await entries();
  assert.deepEqual(await entries(), [entry], 'one entry');
  const cached = join(cacheDir, entry!, 'weights.bin');
  const written = (await stat(cached)).mtimeMs;

  const second = await compile();
  assert.deepEqual(await entries(), [entry], 'no second entry');
  assert.equal((await stat(cached)).mtimeMs, written, 'the cached file was not written again');
  assert.deepEqual(second, first);
  const files = (await readdir(join(cacheDir, entry!))).sort();
  assert.deepEqual(files, ['weights.bin', 'weights.json'], 'the graphs written beside it went on release');
});

test('another weight mode or a rewritten checkpoint gets an entry of its own', async () => {
  const before = (await entries()).length;
  await compile({ weights: 'int4' });
  assert.equal((await entries()).length, before + 1, 'int4 is another entry');
  const shard = (await readdir(modelDir)).find((f) => f.endsWith('.safetensors'))!;
  const later = new Date(Date.now() + 5_000);
  await utimes(join(modelDir, shard), later, later); // as a rewrite of the checkpoint would
  await compile();
  assert.equal((await entries()).length, before + 2, 'the rewritten checkpoint is another entry');
});

test('what a killed process left in the cache is removed by the next one that uses it', async () => {
  const partial = join(cacheDir, 'deadbeef.partial-999999999'); // no such pid
  await mkdir(partial);
  const entry = (await entries()).find((name) => !name.includes('.partial-'));
  const graph = join(cacheDir, entry!, 'prefill.999999999-0.onnx');
  await writeFile(graph, 'a killed worker left it');
  await compile({ weights: 'int8' });
  assert.ok(!(await entries()).includes('deadbeef.partial-999999999'));
  assert.ok(!existsSync(graph));
});

test('an entry unused for a week is removed by the next process that uses the cache, unless one in use', async () => {
  const weekAgo = new Date(Date.now() - 8 * 24 * 3600 * 1000);
  const real = await entries(); // the f32 entries (the checkpoint before and after its rewrite), int4, int8
  const written = new Map(
    await Promise.all(
      real.map(async (name) => [name, (await stat(join(cacheDir, name, 'weights.bin'))).mtimeMs] as const),
    ),
  );
  const oldEntry = async (name: string) => {
    await mkdir(join(cacheDir, name), { recursive: true });
    await writeFile(join(cacheDir, name, 'weights.json'), '{}');
  };
  await oldEntry('stale');
  await oldEntry('in-use');
  // A live process other than this one (the test runner) compiled a model from it.
  await writeFile(join(cacheDir, 'in-use', `prefill.${process.ppid}-0.onnx`), 'graph');
  for (const name of [...real, 'stale', 'in-use']) await utimes(join(cacheDir, name, 'weights.json'), weekAgo, weekAgo);
  await compile(); // the rewritten checkpoint's f32 entry: touched as it is used, so kept
  const kept = await entries();
  assert.ok(kept.includes('in-use') && !kept.includes('stale'), kept.join(', '));
  assert.equal(kept.length, 2, 'only the entry just used and the one in use are left');
  const used = kept.find((name) => name !== 'in-use')!;
  assert.ok(real.includes(used));
  assert.ok((await stat(join(cacheDir, used, 'weights.json'))).mtimeMs > weekAgo.getTime(), 'touched');
  assert.equal((await stat(join(cacheDir, used, 'weights.bin'))).mtimeMs, written.get(used), 'not written again');
});
