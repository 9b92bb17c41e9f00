import { mkdir, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '@sambay/engine';

const PREFIX = 'sambay-worker-';

/** Removes the directories of workers on this machine that died without removing their own. */
async function removeOrphans(): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    const pid = Number(name.slice(PREFIX.length));
    if (name.startsWith(PREFIX) && Number.isInteger(pid) && pid !== process.pid && !processAlive(pid)) {
      await rm(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/**
 * Where the engine writes its compiled model: graphs and a weights file as large as the model's
 * weights (f32 or quantized). MODEL_COMPILE_DIR when set, kept; otherwise a directory of this
 * process's own under the OS temp dir, removed when the engine stops, and at the next worker start
 * on the machine if this one was killed.
 */
export class CompileDir {
  private constructor(
    readonly path: string,
    private readonly owned: boolean,
  ) {}

  static async claim(configured: string | undefined): Promise<CompileDir> {
    if (configured) return new CompileDir(configured, false);
    await removeOrphans();
    const path = join(tmpdir(), `${PREFIX}${process.pid}`);
    await rm(path, { recursive: true, force: true });
    await mkdir(path);
    return new CompileDir(path, true);
  }

  async remove(): Promise<void> {
    if (this.owned) await rm(this.path, { recursive: true, force: true });
  }
}
