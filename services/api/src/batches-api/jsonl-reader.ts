import { createReadStream } from 'node:fs';

const NEWLINE = 0x0a;

export interface JsonlLine {
  /** 1-based line number in the file (blank lines count, so numbers match an editor's). */
  lineNo: number;
  text: string;
  /** Byte offset just past this line's newline: where the next read continues. */
  end: number;
}

/**
 * The non-blank lines of a file from byte `offset` on (which starts line `lineNo`), one at a time:
 * only the current line is ever held as a string, so a file of any size is read in bounded memory.
 */
export async function* readJsonlLines(path: string, offset: number, lineNo: number): AsyncGenerator<JsonlLine> {
  let parts: Buffer[] = [];
  let position = offset;
  let line = lineNo;
  const finish = (end: number): JsonlLine | null => {
    const text = Buffer.concat(parts).toString('utf8');
    parts = [];
    const out = text.trim() === '' ? null : { lineNo: line, text, end };
    line += 1;
    return out;
  };
  for await (const chunk of createReadStream(path, { start: offset }) as AsyncIterable<Buffer>) {
    let from = 0;
    for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, from)) {
      parts.push(chunk.subarray(from, at));
      const out = finish(position + at + 1);
      if (out) yield out;
      from = at + 1;
    }
    if (from < chunk.length) parts.push(chunk.subarray(from));
    position += chunk.length;
  }
  if (parts.length > 0) {
    const out = finish(position);
    if (out) yield out;
  }
}

/** Non-blank lines of a file, counted as they stream by. */
export async function countJsonlLines(path: string): Promise<number> {
  let count = 0;
  for await (const _line of readJsonlLines(path, 0, 1)) count += 1;
  return count;
}
