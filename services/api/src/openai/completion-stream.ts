import type { Response } from 'express';
import type { Logger } from 'pino';
import { SseWriter } from '../sse/sse-writer.js';
import { cancelJobs } from './cancel-jobs.js';
import type { CompletionContext } from './completion-context.js';
import { formatEventId, type CompletionRecord } from './completion-record.js';
import { followJobs, jobsFollower, type FollowedEvent } from './job-follower.js';
import { onClose } from './on-close.js';
import { chunkBody, totalUsage, usageChunkBody, type ChunkDelta } from './openai-response.js';

/**
 * A streamed completion: SSE `data:` chunks in OpenAI's shape, `data: [DONE]` last. Each chunk's
 * `id:` is the stream position (completion-record.ts), so a client that lost the connection repeats
 * its POST with Last-Event-ID and continues with no gap and no repeat.
 *
 * A disconnect is not a cancel at once: the jobs wait `resumeGraceMs` for the client to reconnect
 * (to any API instance: the count of attached streams is in Redis) and are cancelled if none did.
 * Streams this process ends itself (shutdown) cancel nothing: their clients reconnect elsewhere.
 */
export async function streamCompletion(
  ctx: CompletionContext,
  res: Response,
  record: CompletionRecord,
  afterIds: string[],
): Promise<void> {
  const log = res.locals.log as Logger;
  const { meta, jobIds } = record;
  const position = { completionId: meta.id, afterIds: [...afterIds] };
  const sse = new SseWriter(res);
  const follower = jobsFollower(ctx.fanout, ctx.keys, jobIds, afterIds);
  // Set from event handlers, so an object: flow analysis would take plain locals for constants.
  const state = { closed: false, serverClosed: false };
  const close = () => {
    state.closed = true;
    sse.end();
    follower.close();
  };
  const unregister = ctx.streams.add(() => {
    state.serverClosed = true;
    close();
  });
  onClose(res, () => {
    // Not ended by this side (finished, failed or shut down): the client went away.
    const clientLeft = !res.writableFinished && !state.serverClosed;
    close();
    void detach(ctx, record, clientLeft, log);
  });
  const send = (body: unknown) => sse.data(JSON.stringify(body), formatEventId(position));
  try {
    await ctx.records.attach(meta.id);
    sse.open();
    sse.startHeartbeat(ctx.heartbeatMs);
    const fresh = afterIds.every((id) => id === '0-0');
    if (fresh && meta.endpoint === 'chat')
      for (let i = 0; i < jobIds.length; i++)
        await send(chunkBody(meta, i, { role: 'assistant' }, record.includeUsage));
    const events = followJobs({
      follower,
      store: ctx.store,
      jobIds,
      idleCheckMs: ctx.idleCheckMs,
      isClosed: () => state.closed,
    });
    for await (const followed of events) {
      if (followed.id !== null) position.afterIds[followed.choice] = followed.id;
      const delta = chunkDelta(followed);
      if (delta) await send(chunkBody(meta, followed.choice, delta, record.includeUsage));
      if (followed.event.type === 'error') {
        await sse.data(JSON.stringify(streamError(followed.choice, followed.event.message)));
        await cancelJobs(ctx.store, jobIds, log);
        break;
      }
    }
    if (state.closed) return;
    if (record.includeUsage) await send(usageChunkBody(meta, await usageOf(ctx, record)));
    await sse.data('[DONE]');
  } catch (error) {
    if (!state.closed) log.error({ err: error, completion_id: meta.id }, 'openai stream failed');
  } finally {
    unregister();
    close();
  }
}

function chunkDelta({ event }: FollowedEvent): ChunkDelta | null {
  if (event.type === 'tokens') return event.text === '' ? null : { text: event.text };
  if (event.type === 'done') return { finishReason: event.result.finish_reason };
  return null;
}

/** OpenAI's in-stream error: its clients raise a `data` that holds `error`. */
const streamError = (choice: number, message: string) => ({
  error: { message: `choice ${choice} failed: ${message}`, type: 'internal_error', param: null, code: 'job_failed' },
});

/** Read from the jobs' state, not from the events: a resumed stream has not seen the earlier ones. */
async function usageOf(ctx: CompletionContext, record: CompletionRecord) {
  const views = await Promise.all(record.jobIds.map((id) => ctx.store.getJob(id, { withText: false })));
  return totalUsage(
    record.meta.n,
    views.map((view) => view?.usage ?? null),
  );
}

/** One stream fewer; if the client left mid-stream and no other stream of it is open after the grace period, cancel. */
async function detach(ctx: CompletionContext, record: CompletionRecord, leftEarly: boolean, log: Logger) {
  try {
    const remaining = await ctx.records.detach(record.meta.id);
    if (!leftEarly || remaining > 0) return;
    const timer = setTimeout(() => {
      void ctx.records
        .attached(record.meta.id)
        .then((attached) => (attached > 0 ? undefined : cancelJobs(ctx.store, record.jobIds, log)))
        .catch((error: unknown) => {
          log.warn({ err: error }, 'cancelling an abandoned stream failed');
        });
    }, ctx.resumeGraceMs);
    timer.unref();
  } catch (error) {
    log.warn({ err: error, completion_id: record.meta.id }, 'detaching a stream failed');
  }
}
