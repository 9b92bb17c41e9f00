import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { writeWeightFile, type StoredWeight, type WeightFile, type WeightMode } from '../graph/weights/weight-file.js';
import type { WeightSource } from '../model/tensor.js';
import { processAlive } from './process-alive.js';

/**
 * Weights files kept across processes: converting a checkpoint (bf16 to f32, or quantizing it) is
 * most of a large model's load, and a restarted worker would redo it for the same files. Each entry
 * is a directory named by a hash of what the file is made from (the source's identity, the weight
 * mode, this file format), holding `weights.bin` and its index `weights.json`. An entry is written
 * under a temporary name (with the writer's pid) and renamed into place, so a reader never sees half
 * of one; two processes that write the same entry at once both succeed and one rename wins. Models
 * compiled from an entry write their graphs into it (ORT reads external data only from the graph's
 * directory) under names tagged with their pid, and remove them on release. What a killed process
 * left (a partial entry, graphs) is removed by the next process that uses the cache, and so is an
 * entry nobody has used for `UNUSED_ENTRY_MS` (each use touches its index) unless a live process has
 * graphs in it: an old checkpoint's or weight mode's weights, gigabytes each.
 */

/** Bumped whenever weight-file.ts or quantize.ts change what they write. */
const FORMAT = 1;
const INDEX = 'weights.json';
/** An entry unused this long (and not in use) is removed: a week, past any rollback of a deployment. */
const UNUSED_ENTRY_MS = 7 * 24 * 3600 * 1000;

export function cachedWeightFile(cacheDir: string, source: WeightSource, mode: WeightMode): WeightFile | null {
  const identity = source.identity?.();
  if (identity === undefined) return null;
  const key = createHash('sha256').update(JSON.stringify({ FORMAT, mode, identity })).digest('hex').slice(0, 24);
  const entry = join(cacheDir, key);
  mkdirSync(cacheDir, { recursive: true });
  const index = join(entry, INDEX);
  // Used now, before the clean-up below judges what is stale.
  if (existsSync(index)) utimesSync(index, new Date(), new Date());
  removeLeftovers(cacheDir);
  if (!existsSync(index)) {
    const staging = join(cacheDir, `${key}.partial-${process.pid}`);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging);
    try {
      const file = writeWeightFile(join(staging, 'weights.bin'), source, mode);
      writeFileSync(join(staging, INDEX), JSON.stringify({ bytes: file.bytes, weights: [...file.weights] }));
      renameSync(staging, entry);
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(index)) throw error; // another process won the rename: use its entry
    }
  }
  const stored = JSON.parse(readFileSync(index, 'utf8')) as { bytes: number; weights: [string, StoredWeight][] };
  return { path: join(entry, 'weights.bin'), weights: new Map(stored.weights), bytes: stored.bytes };
}

let graphs = 0;

/** A tag unique to one compiled model of this process, for its graph files: `<pid>-<n>`. */
export const graphFileTag = () => `${process.pid}-${graphs++}`;

/** The pid in a partial entry's or a graph file's name (`<key>.partial-<pid>`, `<name>.<pid>-<n>.onnx`). */
const ownerOf = (name: string) => Number(/\.partial-(\d+)$|\.(\d+)-\d+\.onnx$/.exec(name)?.slice(1).find(Boolean));

/**
 * Removes what processes that are gone left in the cache (a killed writer's partial entry is
 * gigabytes), and entries unused for `UNUSED_ENTRY_MS` that no live process has graphs in.
 */
function removeLeftovers(cacheDir: string): void {
  /** Another process's, and whether it is alive; null for names no other process owns. */
  const owner = (name: string) => {
    const pid = ownerOf(name);
    return pid > 0 && pid !== process.pid ? { alive: processAlive(pid) } : null;
  };
  const stale = Date.now() - UNUSED_ENTRY_MS;
  for (const name of readdirSync(cacheDir)) {
    const path = join(cacheDir, name);
    if (owner(name)?.alive === false) {
      rmSync(path, { recursive: true, force: true });
      continue;
    }
    if (!existsSync(join(path, INDEX))) continue;
    let inUse = false;
    for (const file of readdirSync(path)) {
      const alive = owner(file)?.alive;
      if (alive === false) rmSync(join(path, file), { force: true });
      inUse ||= alive === true;
    }
    if (!inUse && statSync(join(path, INDEX)).mtimeMs < stale) rmSync(path, { recursive: true, force: true });
  }
}
