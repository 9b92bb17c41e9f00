/**
 * Entry point of the engine's worker thread. It owns the Scheduler, so prefill and decode run here
 * and never hold up the main thread's event loop, from which BullMQ renews job locks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type GenerationEvent, loadScheduler } from '@sambay/engine';
import type { EngineCommand, EngineReport, EngineThreadData } from './engine-messages.js';

const port = parentPort!;
const data = workerData as EngineThreadData;
const post = (report: EngineReport) => {
  port.postMessage(report);
};

/** Events of one decode step leave together: one message per step instead of one per sequence. */
let outbox: GenerationEvent[] = [];
function emit(event: GenerationEvent): void {
  if (outbox.length === 0) setImmediate(sendOutbox);
  outbox.push(event);
}
function sendOutbox(): void {
  const events = outbox;
  outbox = [];
  if (events.length > 0) post({ type: 'events', events });
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
    onEvent: emit,
  });
  port.on('message', (command: EngineCommand) => {
    if (command.type === 'submit') {
      try {
        scheduler.submit(command.request);
      } catch (error) {
        emit({ type: 'failed', id: command.request.id, message: (error as Error).message });
      }
    } else {
      scheduler.cancel(command.id);
    }
  });
  post({ type: 'ready' });
} catch (error) {
  fatal(error);
}
