import { Transform, type TransformCallback } from 'node:stream';

const NEWLINE = 0x0a;

export interface JsonlLimits {
  /** Non-blank lines at most (MAX_BATCH_LINES). */
  maxLines: number;
  /** Bytes of one line at most: a request body's limit (MAX_BODY_BYTES). */
  maxLineBytes: number;
}

export class JsonlLimitError extends Error {}

/**
 * Passes bytes through while counting lines, failing the stream once a limit is passed: an upload
 * is checked as it streams to disk, never held whole. Lines of only whitespace are not counted.
 */
export class JsonlCounter extends Transform {
  lines = 0;
  private lineBytes = 0;
  private lineBlank = true;

  constructor(private readonly limits: JsonlLimits) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    for (const byte of chunk) {
      if (byte === NEWLINE) {
        this.endLine();
      } else {
        this.lineBytes += 1;
        // Space, tab, CR.
        if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) this.lineBlank = false;
      }
    }
    const error = this.check();
    done(error, error ? undefined : chunk);
  }

  override _flush(done: TransformCallback): void {
    this.endLine();
    done(this.check());
  }

  private endLine(): void {
    if (!this.lineBlank) this.lines += 1;
    this.lineBytes = 0;
    this.lineBlank = true;
  }

  private check(): JsonlLimitError | null {
    if (this.lineBytes > this.limits.maxLineBytes)
      return new JsonlLimitError(`line ${this.lines + 1} is longer than ${this.limits.maxLineBytes} bytes`);
    if (this.lines > this.limits.maxLines)
      return new JsonlLimitError(`the file has more than ${this.limits.maxLines} lines`);
    return null;
  }
}
