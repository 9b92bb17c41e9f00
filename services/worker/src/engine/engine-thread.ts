/**
 * Entry point of the engine's worker thread. It owns the Scheduler, so prefill and decode run here
 * and never hold up the main thread's event loop, from which BullMQ renews job locks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type GenerationEvent, startScheduler } from '@sambay/engine';
import { loadModelDir } from '@sambay/engine/model';
import type { EngineCommand, EngineReport, EngineThreadData } from './engine-messages.js';
import { EventOutbox } from './event-outbox.js';
import { defaultIntraOpThreads } from './intra-op-threads.js';

const port = parentPort!;
const data = workerData as EngineThreadData;
const post = (report: EngineReport, transfer: ArrayBuffer[] = []) => {
  port.postMessage(report, transfer);
};

/**
 * How long a running sequence's later tokens may wait for more before they go to the main thread,
 * which writes them to Redis every STREAM_FLUSH_MS (50 ms by default) anyway.
 */
const EVENT_BATCH_MS = 5;

const outbox = new EventOutbox((events) => {
  // Checkpoint states are exported into buffers of their own: moved to the main thread, not copied.
  const states = events.flatMap((e) => (e.type === 'checkpoint' ? [e.state.buffer as ArrayBuffer] : []));
  post({ type: 'events', events }, states);
}, EVENT_BATCH_MS);
function emit(event: GenerationEvent): void {
  outbox.push(event);
  scheduleStats();
}

/** Stats follow activity (events, commands), at most once per interval, and once more after it settles. */
const STATS_INTERVAL_MS = 100;
let readStats: (() => EngineReport & { type: 'stats' }) | null = null;
let statsTimer: NodeJS.Timeout | null = null;
function scheduleStats(): void {
  statsTimer ??= setTimeout(() => {
    statsTimer = null;
    if (readStats) post(readStats());
  }, STATS_INTERVAL_MS);
}

function fatal(error: unknown): void {
  outbox.flush();
  post({ type: 'fatal', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}

try {
  const model = await loadModelDir(data.modelDir);
  const intraOpThreads = data.intraOpThreads ?? defaultIntraOpThreads(model);
  const scheduler = await startScheduler(model, {
    maxSequences: data.maxSequences,
    stateBudgetBytes: data.stateBudgetBytes,
    maxReplayMs: data.maxReplayMs,
    prefillChunkTokens: data.prefillChunkTokens,
    executionProvider: data.executionProvider,
    intraOpThreads,
    weights: data.weights,
    ...(data.compileDir ? { compileDir: data.compileDir } : {}),
    ...(data.weightCacheDir ? { weightCacheDir: data.weightCacheDir } : {}),
    onEvent: emit,
  });
  readStats = () => ({ type: 'stats', stats: scheduler.stats(), steps: scheduler.takeStepTimings() });
  port.on('message', (command: EngineCommand) => {
    scheduleStats();
    if (command.type === 'submit') {
      try {
        scheduler.submit(command.request);
      } catch (error) {
        emit({ type: 'failed', id: command.request.id, message: (error as Error).message });
      }
    } else if (command.type === 'checkpoint') {
      scheduler.checkpoint(command.id);
    } else {
      scheduler.cancel(command.id);
    }
  });
  post({ type: 'ready', intraOpThreads });
} catch (error) {
  fatal(error);
}
