import type { Response } from 'express';
import type { Logger } from 'pino';
import { cancelJobs } from './cancel-jobs.js';
import type { CompletionContext } from './completion-context.js';
import { followJobs } from './job-follower.js';
import { onClose } from './on-close.js';
import { OpenAiError } from './openai-errors.js';
import { completionBody, type ChoiceOutcome, type CompletionMeta } from './openai-response.js';

/**
 * A non-streaming completion: follows the jobs' streams to their ends, then answers in OpenAI's
 * shape. A client that disconnects first has its jobs cancelled: nobody could read their result.
 * One failed choice fails the request (500, the job's error) and cancels the others.
 */
export async function answerWhenDone(
  ctx: CompletionContext,
  res: Response,
  meta: CompletionMeta,
  jobIds: string[],
): Promise<void> {
  const log = res.locals.log as Logger;
  const redis = ctx.store.blockingConnection();
  // Set from the close handler, so an object: flow analysis would take a plain local for a constant.
  const client = { gone: false };
  onClose(res, () => {
    if (res.writableFinished) return;
    client.gone = true;
    redis.disconnect();
    void cancelJobs(ctx.store, jobIds, log);
  });
  const outcomes: ChoiceOutcome[] = [];
  try {
    const events = followJobs({
      redis,
      store: ctx.store,
      keys: ctx.keys,
      jobIds,
      afterIds: jobIds.map(() => '0-0'),
      idleCheckMs: ctx.idleCheckMs,
      isClosed: () => client.gone,
    });
    for await (const { choice, event } of events) {
      if (event.type === 'done') {
        const { text, finish_reason, usage } = event.result;
        outcomes[choice] = { text, finishReason: finish_reason, usage };
      } else if (event.type === 'error') {
        await cancelJobs(ctx.store, jobIds, log);
        throw OpenAiError.jobFailed(`choice ${choice} (job ${jobIds[choice]}) failed: ${event.message}`);
      }
    }
  } catch (error) {
    // A disconnect aborts the pending read; there is nobody left to answer.
    if (client.gone) return;
    throw error;
  } finally {
    redis.disconnect();
  }
  if (!client.gone) res.json(completionBody(meta, outcomes));
}
