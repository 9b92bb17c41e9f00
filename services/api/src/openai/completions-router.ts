import { Router, type Request, type Response } from 'express';
import type { Admission } from '../admission/admission.js';
import { callerOf, canSee } from '../auth/caller.js';
import type { CompletionContext } from './completion-context.js';
import { parseEventId, type CompletionRecord } from './completion-record.js';
import { streamCompletion } from './completion-stream.js';
import { answerWhenDone } from './completion-wait.js';
import { OpenAiError } from './openai-errors.js';
import type { OpenAiEndpoint, OpenAiRequest, OpenAiRequestParser } from './openai-request.js';
import { newCompletionId, type CompletionMeta } from './openai-response.js';

export interface CompletionsRouterOptions extends CompletionContext {
  parser: OpenAiRequestParser;
  servedModel: string;
  /** The native routes' gate: prompt tokens, queue depth, the key's jobs in flight; jobs owned by the key. */
  admission: Admission;
}

/** Response header naming the request's jobs (choice order), for GET /v1/jobs/:id and POST /v1/jobs/:id/cancel. */
export const JOB_IDS_HEADER = 'x-sambay-job-ids';

/**
 * GET /v1/models, POST /v1/completions, POST /v1/chat/completions. Every choice of a request is a
 * job on the shared queue, so priority, cancel, worker-death resume and the queue limit apply as
 * to native jobs (docs/openai.md).
 */
export function completionsRouter(options: CompletionsRouterOptions): Router {
  const router = Router();
  const created = Math.floor(Date.now() / 1000);
  const model = { id: options.servedModel, object: 'model', created, owned_by: 'sambay-serve' };

  router.get('/v1/models', (_req, res) => {
    res.json({ object: 'list', data: [model] });
  });
  // A wildcard: model ids may hold slashes (`microsoft/Phi-4-mini-flash-reasoning`).
  router.get('/v1/models/*model', (req, res) => {
    const id = req.params.model.join('/');
    if (id !== model.id) throw OpenAiError.modelNotFound(id, model.id);
    res.json(model);
  });

  const handle = (endpoint: OpenAiEndpoint) => async (req: Request, res: Response) => {
    // Online requests run at the default priority; batch lines run below it.
    const request =
      endpoint === 'chat' ? await options.parser.chat(req.body, 0) : options.parser.completion(req.body, 0);
    const lastEventId = req.get('last-event-id');
    if (request.stream && lastEventId) {
      await resume(options, res, endpoint, lastEventId);
      return;
    }
    const record = await submit(options, res, request);
    res.setHeader(JOB_IDS_HEADER, record.jobIds.join(','));
    if (request.stream) {
      await options.records.save(record);
      await streamCompletion(
        options,
        res,
        record,
        record.jobIds.map(() => '0-0'),
      );
    } else {
      await answerWhenDone(options, res, record.meta, record.jobIds);
    }
  };
  router.post('/v1/completions', handle('completion'));
  router.post('/v1/chat/completions', handle('chat'));
  return router;
}

async function submit(
  options: CompletionsRouterOptions,
  res: Response,
  request: OpenAiRequest,
): Promise<CompletionRecord> {
  // Chat prompts are the rendered template; a prompt list has one entry per prompt (times n).
  const param = request.endpoint === 'chat' ? 'messages' : 'prompt';
  const jobIds = await options.admission.enqueue(res, {
    requests: request.requests,
    prompts: request.requests.map((job) => ({ param, text: job.prompt })),
    batchId: null,
    invalid: (param, message) => OpenAiError.invalidValue(param, message),
  });
  const meta: CompletionMeta = {
    id: newCompletionId(request.endpoint),
    endpoint: request.endpoint,
    created: Math.floor(Date.now() / 1000),
    model: options.servedModel,
    n: request.n,
  };
  return { meta, jobIds, includeUsage: request.includeUsage };
}

/** The same POST again with Last-Event-ID: continue the completion's jobs, start none. */
async function resume(options: CompletionsRouterOptions, res: Response, endpoint: OpenAiEndpoint, lastEventId: string) {
  const position = parseEventId(lastEventId);
  const record = await options.records.load(position.completionId);
  // Another key's completion answers as one that does not exist (its jobs carry their owner).
  const caller = callerOf(res);
  const visible =
    record !== null &&
    (caller.kind === 'open' ||
      caller.key.admin ||
      record.jobIds.length === 0 ||
      canSee(caller, await options.store.jobOwner(record.jobIds[0]!)));
  if (!record || !visible) throw OpenAiError.notFound('completion', position.completionId, 'Last-Event-ID');
  if (record.meta.endpoint !== endpoint || record.jobIds.length !== position.afterIds.length)
    throw OpenAiError.invalidValue('Last-Event-ID', `the Last-Event-ID is not an event of a stream of this endpoint`);
  res.setHeader(JOB_IDS_HEADER, record.jobIds.join(','));
  await streamCompletion(options, res, record, position.afterIds);
}
