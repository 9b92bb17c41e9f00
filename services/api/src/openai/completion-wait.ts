import type { Response } from 'express';
import type { Logger } from 'pino';
import { cancelJobs } from './cancel-jobs.js';
import type { CompletionContext } from './completion-context.js';
import { followJobs, jobsFollower } from './job-follower.js';
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
  const follower = jobsFollower(
    ctx.fanout,
    ctx.keys,
    jobIds,
    jobIds.map(() => '0-0'),
  );
  // Set from the close handler, so an object: flow analysis would take a plain local for a constant.
  const client = { gone: false };
  onClose(res, () => {
    if (res.writableFinished) return;
    client.gone = true;
    follower.close();
    void cancelJobs(ctx.store, jobIds, log);
  });
  const outcomes: ChoiceOutcome[] = [];
  try {
    const events = followJobs({
      follower,
      store: ctx.store,
      jobIds,
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
    // A disconnect ends the pending wait; there is nobody left to answer.
    if (client.gone) return;
    throw error;
  } finally {
    follower.close();
  }
  if (!client.gone) res.json(completionBody(meta, outcomes));
}
