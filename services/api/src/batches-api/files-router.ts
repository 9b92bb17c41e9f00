import { pipeline } from 'node:stream/promises';
import { Router, type Response } from 'express';
import { callerOf, canSee, ownerOf } from '../auth/caller.js';
import { OpenAiError } from '../openai/openai-errors.js';
import type { FileStore, StoredFile } from './file-store.js';
import { listBody, pageQuery } from './list-query.js';
import { receiveUpload, type UploadLimits } from './multipart-upload.js';

/** OpenAI's default and largest page of GET /v1/files. */
const FILES_PAGE = 10_000;

/**
 * POST /v1/files, GET /v1/files, GET /v1/files/:id, GET /v1/files/:id/content, DELETE /v1/files/:id.
 * Mounted before the JSON body parser: an upload is multipart and is streamed, never buffered. A file
 * belongs to the key that uploaded it (an output file to its batch's key): another key's file is a
 * 404, as jobs are; admin keys and open mode see every file.
 */
export function filesRouter(files: FileStore, limits: UploadLimits): Router {
  const router = Router();
  /** The file, if the caller may see it. */
  const visibleFile = async (res: Response, id: string): Promise<StoredFile> => {
    const file = await files.get(id);
    if (!file || !canSee(callerOf(res), file.owner)) throw OpenAiError.notFound('file', id, 'file_id');
    return file;
  };

  router.post('/v1/files', async (req, res) => {
    res.json(await receiveUpload(req, files, limits, ownerOf(callerOf(res))));
  });

  router.get('/v1/files', async (req, res) => {
    const page = pageQuery(req, FILES_PAGE, FILES_PAGE);
    const { order = 'desc', purpose } = req.query;
    if (order !== 'asc' && order !== 'desc') throw OpenAiError.invalidValue('order', '`order` must be `asc` or `desc`');
    if (purpose !== undefined && typeof purpose !== 'string')
      throw OpenAiError.invalidValue('purpose', '`purpose` must be a string');
    const caller = callerOf(res);
    const visible = (owner: string | null) => canSee(caller, owner);
    const { data, hasMore } = await files.list({ ...page, order, visible, ...(purpose ? { purpose } : {}) });
    res.json(listBody(data, hasMore));
  });

  router.get('/v1/files/:id', async (req, res) => {
    res.json((await visibleFile(res, req.params.id)).object);
  });

  router.get('/v1/files/:id/content', async (req, res) => {
    const { object } = await visibleFile(res, req.params.id);
    res.setHeader('content-type', 'application/jsonl');
    res.setHeader('content-length', String(object.bytes));
    await pipeline(files.openContent(object.id), res);
  });

  router.delete('/v1/files/:id', async (req, res) => {
    await visibleFile(res, req.params.id);
    if (!(await files.delete(req.params.id))) throw OpenAiError.notFound('file', req.params.id, 'file_id');
    res.json({ id: req.params.id, object: 'file', deleted: true });
  });

  return router;
}
