import type { RedisClient, QueueKeys } from '@sambay/protocol';

export interface CancelListenerOptions {
  /** A connection of its own: once subscribed, a Redis connection takes no other commands. */
  subscriber: RedisClient;
  keys: QueueKeys;
  /** Called with each job id published on the cancel channel; ids this process does not hold are ignored by the callee. */
  onCancel: (jobId: string) => void;
}

/**
 * Cross-process cancellation. BullMQ's own cancel (an AbortSignal) only reaches the process holding
 * the job, and the API instance that receives the cancel request does not know which one that is,
 * so it publishes the job id to every worker. The message is the bare job id.
 * A job cancelled before any worker picked it up is found by `isCancelled` when it starts.
 */
export class CancelListener {
  private readonly onMessage = (channel: string, message: string) => {
    if (channel === this.options.keys.cancelChannel && message.length > 0) this.options.onCancel(message);
  };

  constructor(private readonly options: CancelListenerOptions) {}

  async start(): Promise<void> {
    this.options.subscriber.on('message', this.onMessage);
    await this.options.subscriber.subscribe(this.options.keys.cancelChannel);
  }

  async close(): Promise<void> {
    this.options.subscriber.off('message', this.onMessage);
    await this.options.subscriber.unsubscribe(this.options.keys.cancelChannel).catch(() => undefined);
  }
}

/** Whether the job was cancelled before this attempt started (the API sets the marker key). */
export async function isCancelled(redis: RedisClient, keys: QueueKeys, jobId: string): Promise<boolean> {
  return (await redis.exists(keys.jobCancelled(jobId))) === 1;
}
