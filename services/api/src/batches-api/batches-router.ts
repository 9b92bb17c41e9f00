import { Router, type Response } from 'express';
import { z } from 'zod';
import { callerOf, canSee, ownerOf } from '../auth/caller.js';
import { ApiError } from '../errors/api-error.js';
import { OpenAiError } from '../openai/openai-errors.js';
import { formatParam } from '../validation/job-request.js';
import { isOpenAiBatchId, newFileId, newOpenAiBatchId } from './batch-api-ids.js';
import type { BatchDriver } from './batch-driver.js';
import { FINAL_BATCH_STATUSES, type BatchInfo, type BatchRecord, type BatchStore } from './batch-store.js';
import { batchObject } from './batch-view.js';
import type { FileStore } from './file-store.js';
import { listBody, pageQuery } from './list-query.js';

export interface BatchesRouterOptions {
  batches: BatchStore;
  files: FileStore;
  driver: BatchDriver;
  servedModel: string;
}

/** OpenAI's only window; the batch expires (its unfinished lines are not run) this long after creation. */
const COMPLETION_WINDOWS: Record<string, number> = { '24h': 24 * 3600 };
const MAX_METADATA_KEYS = 16;
const BATCHES_PAGE = { default: 20, max: 100 };

const metadataRule = `must be an object of at most ${MAX_METADATA_KEYS} string values (keys <= 64, values <= 512 characters)`;
const createSchema = z.strictObject(
  {
    input_file_id: z.string({ error: 'must be the id of a file uploaded with purpose `batch`' }),
    endpoint: z.enum(['/v1/chat/completions', '/v1/completions'], {
      error: 'must be `/v1/chat/completions` or `/v1/completions`',
    }),
    completion_window: z.enum(Object.keys(COMPLETION_WINDOWS), { error: 'must be `24h`' }),
    metadata: z
      .record(
        z.string().max(64, { error: metadataRule }),
        z.string({ error: metadataRule }).max(512, { error: metadataRule }),
        {
          error: metadataRule,
        },
      )
      .refine((m) => Object.keys(m).length <= MAX_METADATA_KEYS, { error: metadataRule })
      .nullish(),
  },
  { error: 'must be a JSON object' },
);

function parseCreate(body: unknown) {
  const parsed = createSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') return OpenAiError.unsupported(formatParam([...issue.path, issue.keys[0]!]));
  const param = formatParam(issue.path);
  return OpenAiError.invalidValue(
    param || null,
    param ? `\`${param}\` ${issue.message}` : `the request body ${issue.message}`,
  );
}

/**
 * POST /v1/batches, GET /v1/batches, GET /v1/batches/:id, POST /v1/batches/:id/cancel. Mounted
 * before the native batches router: ids that are not Batch API ids fall through to it.
 */
export function openAiBatchesRouter(options: BatchesRouterOptions): Router {
  const router = Router();
  const { batches, files } = options;
  /** The batch, if the caller may see it: another key's batch is a 404, as its jobs are. */
  const visibleBatch = async (res: Response, id: string): Promise<BatchRecord> => {
    const record = await batches.get(id);
    if (!record || !canSee(callerOf(res), record.owner)) throw OpenAiError.notFound('batch', id, 'batch_id');
    return record;
  };
  const view = async (res: Response, id: string) => batchObject(await visibleBatch(res, id), options.servedModel);

  router.post('/v1/batches', async (req, res) => {
    const body = parseCreate(req.body);
    if (body instanceof ApiError) throw body;
    const caller = callerOf(res);
    const stored = await files.get(body.input_file_id);
    if (!stored || !canSee(caller, stored.owner))
      throw OpenAiError.notFound('file', body.input_file_id, 'input_file_id');
    const input = stored.object;
    if (input.purpose !== 'batch')
      throw OpenAiError.invalidValue(
        'input_file_id',
        `the file \`${input.id}\` was not uploaded with purpose \`batch\``,
      );
    const created = Math.floor(Date.now() / 1000);
    const info: BatchInfo = {
      id: newOpenAiBatchId(),
      endpoint: body.endpoint,
      input_file_id: input.id,
      completion_window: body.completion_window,
      created_at: created,
      expires_at: created + COMPLETION_WINDOWS[body.completion_window]!,
      metadata: body.metadata ?? null,
      output_file: newFileId(),
      error_file: newFileId(),
    };
    await files.ensureDir();
    await batches.create(info, ownerOf(caller));
    await options.driver.enqueue(info.id);
    res.json(await view(res, info.id));
  });

  router.get('/v1/batches', async (req, res) => {
    const page = pageQuery(req, BATCHES_PAGE.default, BATCHES_PAGE.max);
    const caller = callerOf(res);
    const { data, hasMore } = await batches.list(page.limit, page.after, (owner) => canSee(caller, owner));
    res.json(
      listBody(
        data.map((r) => batchObject(r, options.servedModel)),
        hasMore,
      ),
    );
  });

  router.get('/v1/batches/:id', async (req, res, next) => {
    if (!isOpenAiBatchId(req.params.id)) {
      next();
      return;
    }
    res.json(await view(res, req.params.id));
  });

  /** A batch still running moves to `cancelling`; its driver cancels its jobs and ends it `cancelled`. */
  router.post('/v1/batches/:id/cancel', async (req, res) => {
    const id = req.params.id;
    const record = await visibleBatch(res, id);
    const cancellable = ['validating', 'in_progress'] as const;
    if (!(await batches.transition(id, cancellable, 'cancelling'))) {
      const status = (await batches.status(id)) ?? record.status;
      if (status !== 'cancelling' && (FINAL_BATCH_STATUSES.includes(status) || status === 'finalizing'))
        throw ApiError.conflict(`batch \`${id}\` is ${status} and can no longer be cancelled`, 'batch_not_cancellable');
    }
    res.json(await view(res, id));
  });

  return router;
}
