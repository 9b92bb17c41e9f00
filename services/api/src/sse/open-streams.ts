/**
 * The SSE streams this process is serving, so shutdown can end them (clients then reconnect to
 * another instance with Last-Event-ID) instead of waiting for them forever in server.close().
 */
export class OpenStreams {
  private readonly closers = new Set<() => void>();

  /** Registers a stream's closer; returns the function that unregisters it. */
  add(close: () => void): () => void {
    this.closers.add(close);
    return () => this.closers.delete(close);
  }

  get size(): number {
    return this.closers.size;
  }

  closeAll(): void {
    for (const close of [...this.closers]) close();
    this.closers.clear();
  }
}
