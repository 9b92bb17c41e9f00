/**
 * Token ids in order of decreasing logit without sorting the vocabulary. "Better" means a higher
 * logit, and on equal logits the lower id, so every order here is total and deterministic.
 */

const better = (logits: Float32Array, a: number, b: number): boolean =>
  logits[a]! > logits[b]! || (logits[a] === logits[b] && a < b);

/**
 * The k best ids, best first: a size-k min-heap over one pass of the vocabulary, O(V log k), and
 * O(V) when most logits lose to the heap's root at once (the usual case).
 */
export function topKIds(logits: Float32Array, k: number): Int32Array {
  const heap = new Int32Array(k); // heap[0] is the worst of the best k seen so far
  const worse = (a: number, b: number) => better(logits, b, a);
  for (let id = 0; id < k; id++) {
    heap[id] = id;
    siftUp(heap, id, worse);
  }
  for (let id = k; id < logits.length; id++) {
    if (!better(logits, id, heap[0]!)) continue;
    heap[0] = id;
    siftDown(heap, 0, k, worse);
  }
  return heap.sort((a, b) => (better(logits, a, b) ? -1 : 1));
}

/**
 * Lazy best-first iteration over the whole vocabulary: heapify in O(V), then O(log V) per id taken.
 * Nucleus sampling without top-k needs only the ids until the mass reaches p, usually a few dozen.
 */
export class BestFirst {
  private readonly heap: Int32Array;
  private size: number;
  private readonly isBefore: (a: number, b: number) => boolean;

  constructor(logits: Float32Array) {
    this.isBefore = (a, b) => better(logits, a, b);
    this.size = logits.length;
    this.heap = new Int32Array(this.size);
    for (let id = 0; id < this.size; id++) this.heap[id] = id;
    for (let i = (this.size >> 1) - 1; i >= 0; i--) siftDown(this.heap, i, this.size, this.isBefore);
  }

  /** The best id not yet taken, or -1 when all were taken. */
  next(): number {
    if (this.size === 0) return -1;
    const top = this.heap[0]!;
    this.size--;
    this.heap[0] = this.heap[this.size]!;
    siftDown(this.heap, 0, this.size, this.isBefore);
    return top;
  }
}

/** Binary heap whose root is the element for which `first(root, x)` holds against every x. */
function siftUp(heap: Int32Array, i: number, first: (a: number, b: number) => boolean): void {
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!first(heap[i]!, heap[parent]!)) return;
    [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
    i = parent;
  }
}

function siftDown(heap: Int32Array, i: number, size: number, first: (a: number, b: number) => boolean): void {
  for (;;) {
    const left = 2 * i + 1;
    if (left >= size) return;
    const right = left + 1;
    const child = right < size && first(heap[right]!, heap[left]!) ? right : left;
    if (!first(heap[child]!, heap[i]!)) return;
    [heap[i], heap[child]] = [heap[child]!, heap[i]!];
    i = child;
  }
}
