import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { GenerationEvent, GenerationRequest, SchedulerStats, StepTimings } from '@sambay/engine';
import { CompileDir } from './compile-dir.js';
import { DuplicateGenerationError, EngineStartError } from './engine-errors.js';
import type { EngineCommand, EngineReport, EngineThreadData } from './engine-messages.js';
import type { EngineListener, GenerationEngine } from './generation-engine.js';

/** The buffer under `bytes`, to transfer, when they are all of it (a slice of a shared pool is copied instead). */
function ownBuffer(bytes: Uint8Array | undefined): ArrayBuffer[] {
  if (!bytes || !(bytes.buffer instanceof ArrayBuffer)) return [];
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? [bytes.buffer] : [];
}

/**
 * The main thread's handle on the engine thread: submits and cancels by message and hands each
 * generation's events to the listener registered for its id. A listener is dropped after the
 * generation's `finished` or `failed` event.
 */
export class EngineClient implements GenerationEngine {
  private readonly listeners = new Map<string, EngineListener>();
  private deathReason: string | null = null;
  private latestStats: SchedulerStats | null = null;
  private stepListener: ((steps: StepTimings) => void) | null = null;
  private threads = 0;
  private announceDeath!: (reason: string) => void;
  /** Settles with the reason when the thread stops, on purpose or not. */
  readonly stopped = new Promise<string>((resolve) => (this.announceDeath = resolve));

  private constructor(
    private readonly thread: Worker,
    private readonly compileDir: CompileDir,
  ) {
    thread.on('message', (report: EngineReport) => {
      this.receive(report);
    });
    thread.on('error', (error) => {
      this.die(`engine thread crashed: ${error.message}`);
    });
    thread.on('exit', (code) => {
      this.die(`engine thread exited with code ${code}`);
    });
  }

  /** Starts the thread and waits until it has loaded the model. */
  static async start(data: EngineThreadData): Promise<EngineClient> {
    const compileDir = await CompileDir.claim(data.compileDir);
    const workerData: EngineThreadData = { ...data, compileDir: compileDir.path };
    const thread = new Worker(new URL('./engine-thread.js', import.meta.url), { workerData });
    const client = new EngineClient(thread, compileDir);
    // The first of: its first message, an error thrown while loading, or its exit code.
    const [first] = (await Promise.race([once(thread, 'message'), once(thread, 'error'), once(thread, 'exit')])) as [
      EngineReport | Error | number,
    ];
    if (typeof first === 'object' && !(first instanceof Error) && first.type === 'ready') {
      client.threads = first.intraOpThreads;
      return client;
    }
    await thread.terminate();
    await compileDir.remove();
    const reason =
      typeof first === 'number'
        ? `exit code ${first}`
        : first instanceof Error || first.type === 'fatal'
          ? first.message
          : `unexpected first message \`${first.type}\``;
    throw new EngineStartError(`could not start the engine on ${data.modelDir}: ${reason}`);
  }

  /** ORT's intra-op threads the engine runs on (WORKER_INTRA_OP_THREADS, or chosen by the model). */
  get intraOpThreads(): number {
    return this.threads;
  }

  /** Receives the durations of the engine's model calls as the thread reports them (metrics). */
  onStepTimings(listener: (steps: StepTimings) => void): void {
    this.stepListener = listener;
  }

  /** The scheduler's latest stats (batch size, state bytes) as the thread last sent them; null before any. */
  get stats(): SchedulerStats | null {
    return this.latestStats;
  }

  submit(request: GenerationRequest, listener: EngineListener): void {
    if (this.listeners.has(request.id)) throw new DuplicateGenerationError(request.id);
    this.listeners.set(request.id, listener);
    if (this.deathReason) this.failAll(this.deathReason);
    else this.send({ type: 'submit', request }, ownBuffer(request.resumeState?.state));
  }

  checkpoint(id: string): void {
    if (this.listeners.has(id) && !this.deathReason) this.send({ type: 'checkpoint', id });
  }

  cancel(id: string): void {
    if (this.listeners.has(id) && !this.deathReason) this.send({ type: 'cancel', id });
  }

  /** Stops the thread now; unfinished generations get `failed`. */
  async terminate(): Promise<void> {
    this.deathReason ??= 'engine stopped';
    await this.thread.terminate();
    await this.compileDir.remove();
    this.die(this.deathReason);
  }

  private send(command: EngineCommand, transfer: ArrayBuffer[] = []): void {
    this.thread.postMessage(command, transfer);
  }

  private receive(report: EngineReport): void {
    if (report.type === 'events') for (const event of report.events) this.dispatch(event);
    else if (report.type === 'stats') {
      this.latestStats = report.stats;
      this.stepListener?.(report.steps);
    } else if (report.type === 'fatal') this.die(`engine failed: ${report.message}`);
  }

  private dispatch(event: GenerationEvent): void {
    const listener = this.listeners.get(event.id);
    if (!listener) return;
    if (event.type === 'finished' || event.type === 'failed') this.listeners.delete(event.id);
    listener(event);
  }

  private die(reason: string): void {
    this.deathReason ??= reason;
    this.announceDeath(this.deathReason);
    this.failAll(this.deathReason);
  }

  private failAll(message: string): void {
    for (const id of [...this.listeners.keys()]) this.dispatch({ type: 'failed', id, message });
  }
}
