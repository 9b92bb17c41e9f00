import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import { OpenAiError } from '../openai/openai-errors.js';
import type { FileStore } from './file-store.js';
import { listBody, pageQuery } from './list-query.js';
import { receiveUpload, type UploadLimits } from './multipart-upload.js';

/** OpenAI's default and largest page of GET /v1/files. */
const FILES_PAGE = 10_000;

/**
 * POST /v1/files, GET /v1/files, GET /v1/files/:id, GET /v1/files/:id/content, DELETE /v1/files/:id.
 * Mounted before the JSON body parser: an upload is multipart and is streamed, never buffered.
 */
export function filesRouter(files: FileStore, limits: UploadLimits): Router {
  const router = Router();

  router.post('/v1/files', async (req, res) => {
    res.json(await receiveUpload(req, files, limits));
  });

  router.get('/v1/files', async (req, res) => {
    const page = pageQuery(req, FILES_PAGE, FILES_PAGE);
    const { order = 'desc', purpose } = req.query;
    if (order !== 'asc' && order !== 'desc') throw OpenAiError.invalidValue('order', '`order` must be `asc` or `desc`');
    if (purpose !== undefined && typeof purpose !== 'string')
      throw OpenAiError.invalidValue('purpose', '`purpose` must be a string');
    const { data, hasMore } = await files.list({ ...page, order, ...(purpose ? { purpose } : {}) });
    res.json(listBody(data, hasMore));
  });

  router.get('/v1/files/:id', async (req, res) => {
    const file = await files.get(req.params.id);
    if (!file) throw OpenAiError.notFound('file', req.params.id, 'file_id');
    res.json(file);
  });

  router.get('/v1/files/:id/content', async (req, res) => {
    const file = await files.get(req.params.id);
    if (!file) throw OpenAiError.notFound('file', req.params.id, 'file_id');
    res.setHeader('content-type', 'application/jsonl');
    res.setHeader('content-length', String(file.bytes));
    await pipeline(files.openContent(file.id), res);
  });

  router.delete('/v1/files/:id', async (req, res) => {
    if (!(await files.delete(req.params.id))) throw OpenAiError.notFound('file', req.params.id, 'file_id');
    res.json({ id: req.params.id, object: 'file', deleted: true });
  });

  return router;
}
