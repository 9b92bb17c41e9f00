import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isFileId } from './batch-api-ids.js';

/** `batch`: an uploaded batch input; `batch_output`: a batch's output or error file. */
export type FilePurpose = 'batch' | 'batch_output';

/** OpenAI's File object. Times are Unix seconds. */
export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  expires_at: number;
  filename: string;
  purpose: FilePurpose;
  status: 'processed';
  status_details: null;
}

/** A file and the key that owns it: its uploader's, or its batch's for an output file (null: no keys). */
export interface StoredFile {
  object: FileObject;
  owner: string | null;
}

export interface FileListOptions {
  purpose?: string;
  /** Which owners' files the caller may see. */
  visible: (owner: string | null) => boolean;
  /** A file id: list those after it in `order`. */
  after?: string;
  limit: number;
  order: 'asc' | 'desc';
}

const now = () => Math.floor(Date.now() / 1000);

/**
 * Batch API files on a directory (FILES_DIR): `{id}.jsonl` holds the content, `{id}.json` the File
 * object. The object is written last (and by rename), so a file is listed only once its content is
 * complete. A directory rather than Redis: batch files reach hundreds of MB and are read and written
 * as streams, which a filesystem does well and Redis memory does not; several API replicas must
 * share the directory (a shared volume). Expired files are deleted when next read or listed. The
 * object file also records the owning key's name (`owner`), which no response shows.
 */
export class FileStore {
  constructor(
    private readonly dir: string,
    private readonly ttlSeconds: number,
  ) {}

  /** Where `id`'s content is (or is being) written. */
  contentPath(id: string): string {
    return join(this.dir, `${id}.jsonl`);
  }

  private objectPath(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  async ensureDir(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** Makes a file whose content is complete at contentPath(id) visible. */
  async publish(
    id: string,
    fields: { filename: string; purpose: FilePurpose; bytes: number },
    owner: string | null,
  ): Promise<FileObject> {
    const created = now();
    const file: FileObject = {
      id,
      object: 'file',
      ...fields,
      created_at: created,
      expires_at: created + this.ttlSeconds,
      status: 'processed',
      status_details: null,
    };
    const temp = `${this.objectPath(id)}.tmp`;
    await writeFile(temp, JSON.stringify({ ...file, owner }));
    await rename(temp, this.objectPath(id));
    return file;
  }

  async get(id: string): Promise<StoredFile | null> {
    if (!isFileId(id)) return null;
    let stored: FileObject & { owner?: string | null };
    try {
      stored = JSON.parse(await readFile(this.objectPath(id), 'utf8')) as FileObject & { owner?: string | null };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const { owner = null, ...object } = stored;
    if (object.expires_at > now()) return { object, owner };
    await this.delete(id);
    return null;
  }

  /** Sorted by creation time, then id, so `after` pages are stable. */
  async list(options: FileListOptions): Promise<{ data: FileObject[]; hasMore: boolean }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { data: [], hasMore: false };
      throw error;
    }
    const ids = names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
    const files = (await Promise.all(ids.map((id) => this.get(id))))
      .filter((f): f is StoredFile => f !== null && options.visible(f.owner))
      .map((f) => f.object);
    const sign = options.order === 'asc' ? 1 : -1;
    files.sort((a, b) => sign * (a.created_at - b.created_at || a.id.localeCompare(b.id)));
    const matching = files.filter((f) => options.purpose === undefined || f.purpose === options.purpose);
    const start = options.after === undefined ? 0 : matching.findIndex((f) => f.id === options.after) + 1;
    const page = matching.slice(start, start + options.limit);
    return { data: page, hasMore: start + options.limit < matching.length };
  }

  /** Returns whether there was such a file. */
  async delete(id: string): Promise<boolean> {
    if (!isFileId(id)) return false;
    const existed = await rm(this.objectPath(id)).then(
      () => true,
      () => false,
    );
    await rm(this.contentPath(id), { force: true });
    return existed;
  }

  openContent(id: string, start = 0): ReadStream {
    return createReadStream(this.contentPath(id), { start });
  }
}
