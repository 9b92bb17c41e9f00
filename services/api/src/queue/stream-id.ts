/** A Redis Stream entry id, `<ms>-<seq>`, each part an unsigned 64-bit integer (what XADD `*` makes). */
export interface StreamId {
  ms: bigint;
  seq: bigint;
}

const U64_MAX = 2n ** 64n - 1n;
/** 20 digits hold any 64-bit value; the bound keeps BigInt from parsing a header-sized number. */
const SHAPE = /^(\d{1,20})-(\d{1,20})$/;

/** The id, or null when `text` is not one: wrong shape, or a part beyond 64 bits (Redis would refuse it mid-stream). */
export function parseStreamId(text: string): StreamId | null {
  const match = SHAPE.exec(text);
  if (!match) return null;
  const ms = BigInt(match[1]!);
  const seq = BigInt(match[2]!);
  return ms > U64_MAX || seq > U64_MAX ? null : { ms, seq };
}

export const formatStreamId = (id: StreamId): string => `${id.ms}-${id.seq}`;

/** Negative, zero or positive as `a` comes before, is, or comes after `b` in a stream. */
export function compareStreamIds(a: StreamId, b: StreamId): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  return a.seq === b.seq ? 0 : a.seq < b.seq ? -1 : 1;
}

/** Digit strings without leading zeros compare by length first, then as text. */
const compareDigits = (a: string, b: string): number =>
  a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;

/**
 * {@link compareStreamIds} on ids as Redis writes them (and {@link formatStreamId} makes them: no
 * leading zeros), without parsing: the shared reader compares an id per entry per follower.
 */
export function compareStreamIdText(a: string, b: string): number {
  const [aMs = '', aSeq = ''] = a.split('-');
  const [bMs = '', bSeq = ''] = b.split('-');
  return compareDigits(aMs, bMs) || compareDigits(aSeq, bSeq);
}
