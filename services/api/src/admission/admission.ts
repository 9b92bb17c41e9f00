import type { Response } from 'express';
import { newJobId, type JobRequest } from '@sambay/protocol';
import { callerOf, ownerOf } from '../auth/caller.js';
import type { JobsInFlight } from '../auth/jobs-in-flight.js';
import { ApiError } from '../errors/api-error.js';
import type { JobStore } from '../queue/job-store.js';
import type { InvalidField, PromptField, PromptTokenLimit } from '../validation/prompt-token-limit.js';
import { QueueDepthGauge } from './queue-depth-gauge.js';

export interface AdmissionOptions {
  store: JobStore;
  promptLimit: PromptTokenLimit;
  inFlight: JobsInFlight;
  /** Jobs waiting (not yet started) beyond which submissions get 429. @defaultValue MAX_QUEUE_DEPTH (10000) */
  maxQueueDepth: number;
}

/** Validated jobs of one request, with the request field each prompt came from. */
export interface Submission {
  requests: JobRequest[];
  prompts: PromptField[];
  /** Native batches get a batch id; other submissions pass null. */
  batchId: string | null;
  /** How a prompt over the token limit is answered. @defaultValue ApiError.invalidField (422) */
  invalid?: InvalidField;
}

/**
 * Every limit a submission must pass, then the enqueue, for the native and the OpenAI routes alike:
 * prompt tokens, queue depth (queue-depth-gauge.ts), the caller's jobs in flight; the jobs are owned
 * by the caller's key. A submission is admitted whole or not at all. Two API instances may both admit
 * near the depth limit: the depth is a back-pressure signal, not a hard quota (the in-flight limit is exact).
 */
export class Admission {
  private readonly depth: QueueDepthGauge;

  constructor(private readonly options: AdmissionOptions) {
    this.depth = new QueueDepthGauge(() => options.store.queueDepth());
  }

  async enqueue(res: Response, submission: Submission): Promise<string[]> {
    const { store, inFlight, maxQueueDepth } = this.options;
    await this.options.promptLimit.check(submission.prompts, submission.invalid);
    const { admitted, depth } = await this.depth.admits(submission.requests.length, maxQueueDepth);
    if (!admitted) throw ApiError.overloaded(depth, maxQueueDepth);
    const caller = callerOf(res);
    const ids = submission.requests.map(() => newJobId());
    if (caller.kind === 'key') await inFlight.reserve(caller.key, ids);
    try {
      await store.enqueue(submission.requests, submission.batchId, { owner: ownerOf(caller), ids });
      this.depth.enqueued(ids.length);
    } catch (error) {
      if (caller.kind === 'key') await inFlight.release(caller.key.name, ids);
      throw error;
    }
    return ids;
  }
}
