/**
 * Entry point of the engine's worker thread. It owns the Scheduler, so prefill and decode run here
 * and never hold up the main thread's event loop, from which BullMQ renews job locks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type GenerationEvent, loadScheduler } from '@sambay/engine';
import type { EngineCommand, EngineReport, EngineThreadData } from './engine-messages.js';

const port = parentPort!;
const data = workerData as EngineThreadData;
const post = (report: EngineReport, transfer: ArrayBuffer[] = []) => {
  port.postMessage(report, transfer);
};

/** Events of one decode step leave together: one message per step instead of one per sequence. */
let outbox: GenerationEvent[] = [];
function emit(event: GenerationEvent): void {
  if (outbox.length === 0) setImmediate(sendOutbox);
  outbox.push(event);
  scheduleStats();
}
function sendOutbox(): void {
  const events = outbox;
  outbox = [];
  // Checkpoint states are exported into buffers of their own: moved to the main thread, not copied.
  const states = events.flatMap((e) => (e.type === 'checkpoint' ? [e.state.buffer as ArrayBuffer] : []));
  if (events.length > 0) post({ type: 'events', events }, states);
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
  sendOutbox();
  post({ type: 'fatal', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}

try {
  const scheduler = await loadScheduler(data.modelDir, {
    maxSequences: data.maxSequences,
    stateBudgetBytes: data.stateBudgetBytes,
    executionProvider: data.executionProvider,
    weights: data.weights,
    ...(data.compileDir ? { compileDir: data.compileDir } : {}),
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
  post({ type: 'ready' });
} catch (error) {
  fatal(error);
}
