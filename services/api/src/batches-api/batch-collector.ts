import { appendFile, open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OpenAiRequestParser } from '../openai/openai-request.js';
import type { JobStore } from '../queue/job-store.js';
import type { PromptTokenLimit } from '../validation/prompt-token-limit.js';
import { PendingLine, type StopReason } from './batch-line-outcome.js';
import { parseBatchLine } from './batch-line.js';
import type { OutputLine } from './batch-output.js';
import type { BatchProgress, BatchRecord, BatchStore } from './batch-store.js';
import type { FileStore } from './file-store.js';
import { readJsonlLines, type JsonlLine } from './jsonl-reader.js';

export interface CollectorDeps {
  store: JobStore;
  batches: BatchStore;
  files: FileStore;
  parser: OpenAiRequestParser;
  /** MAX_PROMPT_TOKENS, as the online routes count it. */
  promptLimit: PromptTokenLimit;
  servedModel: string;
  /** Jobs a batch keeps queued or running at once. @defaultValue BATCH_WINDOW_JOBS (256) */
  windowJobs: number;
  /** @defaultValue MAX_QUEUE_DEPTH (10000) */
  maxQueueDepth: number;
  /** How often the line at the head of the window is checked. @defaultValue 250 */
  pollMs: number;
}

/** How a collection pass ended: all lines written, a stop (every line still written), or handed back unfinished. */
export type CollectResult = 'completed' | StopReason | 'handed_back';

/** Opens (creating) a file and cuts it to `length`: what a resumed driver wrote past its saved progress is dropped. */
async function truncateTo(path: string, length: number): Promise<void> {
  const handle = await open(path, 'a');
  try {
    await handle.truncate(length);
  } finally {
    await handle.close();
  }
}

/**
 * Runs a batch's lines as jobs and writes each line's output or error line, in input order. At most
 * `windowJobs` jobs are in the queue at a time: lines are read (streamed) and submitted as the
 * head of the window is collected, so a 50,000-line file is never held in memory and never floods
 * the queue. Progress is saved after each group of written lines (batch-store.ts BatchProgress).
 */
export class BatchCollector {
  private readonly window: PendingLine[] = [];
  private readonly progress: BatchProgress;
  private stop: StopReason | null = null;
  private reader: AsyncGenerator<JsonlLine> | null;

  constructor(
    private readonly deps: CollectorDeps,
    private readonly batch: BatchRecord,
    private readonly handBack: () => boolean,
  ) {
    this.progress = { ...batch.progress };
    this.reader = readJsonlLines(
      deps.files.contentPath(batch.info.input_file_id),
      this.progress.offset,
      this.progress.next_line,
    );
  }

  async run(): Promise<CollectResult> {
    const { info } = this.batch;
    await truncateTo(this.deps.files.contentPath(info.output_file), this.progress.output_bytes);
    await truncateTo(this.deps.files.contentPath(info.error_file), this.progress.error_bytes);
    for (;;) {
      if (this.handBack()) return 'handed_back';
      await this.checkStop();
      await this.fill();
      if (this.window.length === 0) return this.stop ?? 'completed';
      if (!this.stop) await this.submit();
      const written = await this.collectReady();
      if (written === 0) await sleep(this.deps.pollMs);
    }
  }

  private async checkStop(): Promise<void> {
    if (this.stop) return;
    if (Date.now() / 1000 >= this.batch.info.expires_at) this.stop = 'batch_expired';
    else if ((await this.deps.batches.status(this.batch.info.id)) === 'cancelling') this.stop = 'batch_cancelled';
  }

  private windowJobs(): number {
    return this.window.reduce((sum, line) => sum + line.jobIds.length, 0);
  }

  /** Reads lines until the window holds `windowJobs` jobs (a bad line holds none but still counts one). */
  private async fill(): Promise<void> {
    while (this.reader && this.window.length < this.deps.windowJobs && this.windowJobs() < this.deps.windowJobs) {
      const next = await this.reader.next();
      if (next.done) {
        this.reader = null;
        return;
      }
      const { lineNo, text, end } = next.value;
      const parsed = await parseBatchLine(text, this.batch.info.endpoint, this.deps);
      const line = new PendingLine(this.batch.info.id, lineNo, end, parsed, this.deps.servedModel);
      line.mayHaveRun = lineNo <= this.progress.submitted_line;
      this.window.push(line);
    }
  }

  /** Enqueues the window's new lines (idempotently: job ids derive from the line), if the queue has room. */
  private async submit(): Promise<void> {
    const fresh = this.window.filter((line) => line.request && !line.submitted);
    const jobs = fresh.flatMap((line) => line.jobIds.map((id, i) => ({ id, request: line.request!.requests[i]! })));
    if (jobs.length === 0) return;
    if ((await this.deps.store.queueDepth()) + jobs.length > this.deps.maxQueueDepth) return;
    this.progress.submitted_line = fresh.at(-1)!.lineNo;
    await this.deps.batches.saveSubmittedLine(this.batch.info.id, this.progress.submitted_line);
    await this.deps.store.enqueueWithIds(jobs, this.batch.info.id, this.batch.owner);
    for (const line of fresh) line.submitted = line.mayHaveRun = true;
  }

  /** Writes the lines at the head of the window whose jobs have ended; returns how many. */
  private async collectReady(): Promise<number> {
    const done: { line: PendingLine; out: OutputLine }[] = [];
    for (const line of this.window) {
      const out = await line.outcome(this.deps.store, this.stop);
      if (!out) break;
      done.push({ line, out });
    }
    if (done.length === 0) return 0;
    await this.write(done);
    this.window.splice(0, done.length);
    return done.length;
  }

  private async write(done: { line: PendingLine; out: OutputLine }[]): Promise<void> {
    const { info } = this.batch;
    const text = (file: OutputLine['file']) =>
      done
        .filter((d) => d.out.file === file)
        .map((d) => `${d.out.json}\n`)
        .join('');
    const output = text('output');
    const errors = text('error');
    if (output) await appendFile(this.deps.files.contentPath(info.output_file), output);
    if (errors) await appendFile(this.deps.files.contentPath(info.error_file), errors);
    const last = done.at(-1)!.line;
    const p = this.progress;
    p.output_bytes += Buffer.byteLength(output);
    p.error_bytes += Buffer.byteLength(errors);
    p.completed += done.filter((d) => d.out.file === 'output').length;
    p.failed += done.filter((d) => d.out.file === 'error').length;
    p.next_line = last.lineNo + 1;
    p.offset = last.end;
    await this.deps.batches.saveProgress(info.id, p);
  }
}
