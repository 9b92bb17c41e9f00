import type { OpenAiRequest } from '../openai/openai-request.js';
import { completionBody } from '../openai/openai-response.js';
import type { JobStore } from '../queue/job-store.js';
import { isFinished, type JobView } from '../queue/job-view.js';
import { lineJobId, lineRequestId } from './batch-api-ids.js';
import type { LineFailure, ParsedLine } from './batch-line.js';
import { errorLine, responseLine, type OutputLine } from './batch-output.js';

/** Why a batch stops before its last line: the lines it did not run go to the error file with this code. */
export type StopReason = 'batch_cancelled' | 'batch_expired';

const STOP_MESSAGES: Record<StopReason, string> = {
  batch_cancelled: 'the batch was cancelled before this request completed',
  batch_expired: 'this request could not be executed before the completion window expired',
};

/** A line read from the input and not yet written to the output or error file. */
export class PendingLine {
  readonly jobIds: string[];
  /** Enqueued by this driver (a resumed driver enqueues again: job ids make that a no-op for jobs that exist). */
  submitted = false;
  /** Enqueued by this driver or, as the saved progress says, by one before it. */
  mayHaveRun = false;
  private cancelled = false;

  constructor(
    readonly batchId: string,
    readonly lineNo: number,
    /** Input offset just past this line. */
    readonly end: number,
    readonly parsed: ParsedLine,
    private readonly model: string,
  ) {
    this.jobIds = parsed.ok ? parsed.request.requests.map((_, choice) => lineJobId(batchId, lineNo, choice)) : [];
  }

  get request(): OpenAiRequest | null {
    return this.parsed.ok ? this.parsed.request : null;
  }

  /**
   * The line's output or error line once its jobs have ended; null while one still runs. With
   * `stop` set, jobs still running are cancelled and a line that never ran ends with `stop`.
   */
  async outcome(store: JobStore, stop: StopReason | null): Promise<OutputLine | null> {
    const id = lineRequestId(this.batchId, this.lineNo);
    const parsed = this.parsed;
    if (!parsed.ok) return errorLine(id, parsed.customId, parsed.failure, null);
    const customId = parsed.customId;
    const fail = (failure: LineFailure) => errorLine(id, customId, failure, this.jobIds.join(','));
    const stopFailure = (reason: StopReason): LineFailure => ({
      kind: 'error',
      code: reason,
      message: STOP_MESSAGES[reason],
    });
    if (stop && !this.mayHaveRun) return fail(stopFailure(stop));
    const views = await Promise.all(this.jobIds.map((jobId) => store.getJob(jobId, { withText: false })));
    if (views.some((v) => v === null)) {
      return fail({ kind: 'error', code: 'job_expired', message: 'the job expired before the batch collected it' });
    }
    const present = views as JobView[];
    if (present.some((v) => !isFinished(v.status))) {
      if (stop && !this.cancelled) {
        this.cancelled = true;
        await Promise.all(this.jobIds.map((jobId) => store.cancel(jobId)));
      }
      return null;
    }
    const failed = present.find((v) => v.status === 'failed');
    if (failed)
      return fail({
        kind: 'response',
        statusCode: 500,
        body: {
          error: { message: failed.error ?? 'the job failed', type: 'internal_error', param: null, code: 'job_failed' },
        },
      });
    if (present.some((v) => v.status === 'cancelled'))
      return fail(
        stop ? stopFailure(stop) : { kind: 'error', code: 'job_cancelled', message: 'the job was cancelled' },
      );
    return responseLine(id, customId, this.jobIds.join(','), await this.body(store));
  }

  private async body(store: JobStore) {
    const request = this.request!;
    const views = await Promise.all(this.jobIds.map((jobId) => store.getJob(jobId)));
    const outcomes = views.map((v) => ({
      text: v?.text ?? '',
      finishReason: v?.finish_reason ?? 'length',
      usage: v?.usage ?? null,
    }));
    const meta = {
      id: `${request.endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-${lineRequestId(this.batchId, this.lineNo).slice('batch_req_'.length)}`,
      endpoint: request.endpoint,
      created: Math.floor(Date.now() / 1000),
      model: this.model,
      n: request.n,
    };
    return completionBody(meta, outcomes);
  }
}
