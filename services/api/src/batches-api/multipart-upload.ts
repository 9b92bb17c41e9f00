import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { Request } from 'express';
import { ApiError } from '../errors/api-error.js';
import { OpenAiError } from '../openai/openai-errors.js';
import { newFileId } from './batch-api-ids.js';
import type { FileObject, FileStore } from './file-store.js';
import { JsonlCounter, JsonlLimitError, type JsonlLimits } from './jsonl-limits.js';

export interface UploadLimits extends JsonlLimits {
  /** MAX_FILE_BYTES. */
  maxBytes: number;
}

interface Received {
  purpose: string | null;
  filename: string | null;
  bytes: number;
  lines: number;
}

const tooLarge = (limit: number) =>
  new ApiError(`the file is larger than ${limit} bytes`, {
    status: 413,
    type: 'invalid_request_error',
    code: 'file_too_large',
    param: 'file',
  });

/**
 * Streams the parts of the request: `purpose`, and `file` straight to its place on disk through the
 * line counter. The parts may come in either order (clients send them as their caller wrote them),
 * so `purpose` is checked once the whole form is read.
 */
function receive(req: Request, path: string, limits: UploadLimits): Promise<Received> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { files: 1, fields: 8, fileSize: limits.maxBytes } });
    } catch {
      reject(OpenAiError.invalidValue(null, 'the request must be multipart/form-data with a `file` and a `purpose`'));
      return;
    }
    const got: Received = { purpose: null, filename: null, bytes: 0, lines: 0 };
    // A refused file ends the upload at once: a destroyed file stream does not always let busboy
    // reach 'close', so waiting for it could leave the client hanging. The rest of the body is
    // drained so the connection stays usable for the error answer.
    const fail = (error: Error) => {
      req.unpipe(parser);
      req.resume();
      reject(error);
    };
    let saving: Promise<void> = Promise.resolve();
    parser.on('field', (name, value) => {
      if (name === 'purpose') got.purpose = value;
    });
    parser.on('file', (name, stream, info) => {
      if (name !== 'file') {
        stream.resume();
        return;
      }
      got.filename = info.filename || 'upload.jsonl';
      const counter = new JsonlCounter(limits);
      let truncated = false;
      stream.on('limit', () => {
        truncated = true;
        stream.destroy(tooLarge(limits.maxBytes));
      });
      stream.on('data', (chunk: Buffer) => (got.bytes += chunk.length));
      saving = pipeline(stream, counter, createWriteStream(path)).then(() => {
        if (truncated) throw tooLarge(limits.maxBytes);
        got.lines = counter.lines;
      });
      saving.catch(fail);
    });
    parser.on('close', () => {
      saving.then(() => {
        resolve(got);
      }, reject);
    });
    parser.on('error', fail);
    req.on('close', () => {
      if (!req.complete) reject(OpenAiError.invalidValue('file', 'the upload was aborted'));
    });
    req.pipe(parser);
  });
}

function uploadError(error: unknown): unknown {
  if (error instanceof JsonlLimitError) return OpenAiError.invalidValue('file', error.message);
  return error;
}

/** POST /v1/files: a JSONL batch input, checked against the limits while it streams to the file store. */
export async function receiveUpload(
  req: Request,
  files: FileStore,
  limits: UploadLimits,
  owner: string | null,
): Promise<FileObject> {
  await files.ensureDir();
  const id = newFileId();
  const path = files.contentPath(id);
  try {
    const got = await receive(req, path, limits).catch((error: unknown) => {
      throw uploadError(error);
    });
    if (got.filename === null) throw OpenAiError.invalidValue('file', 'the form has no `file` part');
    if (got.purpose !== 'batch')
      throw OpenAiError.invalidValue(
        'purpose',
        '`purpose` must be `batch` (the only purpose this server stores files for)',
      );
    if (got.lines === 0) throw OpenAiError.invalidValue('file', 'the file has no lines');
    return await files.publish(id, { filename: got.filename, purpose: 'batch', bytes: got.bytes }, owner);
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
}
