// Follows one job's Server-Sent Events. EventSource reconnects by itself after a dropped connection
// and sends Last-Event-ID, so the server resumes after the last event seen: no gap, no repeat. When
// the browser gives up (the server answered with an error status, e.g. during a deploy), a new
// EventSource resumes from `?last_event_id=`.
import { eventsUrl } from './api.js';

const RETRY_MS = [1000, 2000, 4000, 8000];

/**
 * @typedef {object} FollowerHandlers
 * @property {(status: string) => void} onStatus
 * @property {(chunk: {index: number, token_ids: number[], text: string}) => void} onTokens
 * @property {(progress: {generated_tokens: number, max_tokens: number, tokens_per_second: number}) => void} onProgress
 * @property {(done: {status: string, result: object}) => void} onDone
 * @property {(message: string) => void} onError
 * @property {(state: 'open' | 'reconnecting' | 'closed', detail: string) => void} onConnection
 */

export class JobFollower {
  /**
   * @param {string} jobId
   * @param {FollowerHandlers} handlers
   */
  constructor(jobId, handlers) {
    this.jobId = jobId;
    this.handlers = handlers;
    /** @type {string | null} id of the last event received: where a reconnect resumes */
    this.lastEventId = null;
    /** Tokens received so far; a chunk the page already has is skipped. */
    this.tokens = 0;
    this.stopped = false;
    this.retries = 0;
    /** @type {EventSource | null} */
    this.source = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.connect();
  }

  connect() {
    const url = this.lastEventId
      ? `${eventsUrl(this.jobId)}?last_event_id=${encodeURIComponent(this.lastEventId)}`
      : eventsUrl(this.jobId);
    const source = new EventSource(url);
    this.source = source;
    source.onopen = () => {
      this.retries = 0;
      this.handlers.onConnection('open', 'connected');
    };
    const on = (type, handle) => {
      source.addEventListener(type, (event) => {
        if (this.stopped) return;
        if (event.lastEventId) this.lastEventId = event.lastEventId;
        handle(JSON.parse(event.data));
      });
    };
    on('status', (data) => {
      this.handlers.onStatus(data.status);
    });
    on('tokens', (data) => {
      const end = data.index + data.token_ids.length;
      if (end <= this.tokens) return;
      this.tokens = end;
      this.handlers.onTokens(data);
    });
    on('progress', (data) => {
      this.handlers.onProgress(data);
    });
    on('done', (data) => {
      this.stop();
      this.handlers.onDone(data);
    });
    source.addEventListener('error', (event) => {
      if (this.stopped) return;
      // The job's own `error` event carries data; a connection error is a plain Event.
      if (event instanceof MessageEvent && typeof event.data === 'string') {
        this.stop();
        this.handlers.onError(JSON.parse(event.data).message);
        return;
      }
      if (source.readyState === EventSource.CONNECTING) {
        this.handlers.onConnection('reconnecting', this.resumeDetail());
        return;
      }
      // CLOSED: the browser will not retry (an error status or a non-SSE answer): retry ourselves.
      source.close();
      const delay = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)];
      this.retries += 1;
      this.handlers.onConnection('reconnecting', `${this.resumeDetail()}, retrying in ${delay / 1000} s`);
      this.timer = setTimeout(() => {
        if (!this.stopped) this.connect();
      }, delay);
    });
  }

  resumeDetail() {
    return this.lastEventId ? `connection lost; resuming after event ${this.lastEventId}` : 'connection lost';
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.source?.close();
    this.handlers.onConnection('closed', '');
  }
}
