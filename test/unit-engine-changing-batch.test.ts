import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CompiledModel, type GenerationEvent, type GenerationRequest, Scheduler } from '@sambay/engine';
import { ByteTokenizer } from '@sambay/tokenizer';
import { tinySpec } from './helpers/models.js';

/**
 * A batch whose membership changes every few steps (sequences admitted mid-way, finishing, being
 * cancelled, long prompts arriving in chunks, the slot capacity doubling and halving) gives every
 * sequence the tokens it gets alone; its logits are the same bits whatever its batch-mates.
 */

const tokenizer = new ByteTokenizer();
let engine: CompiledModel;

before(async () => {
  engine = await CompiledModel.create(
    tinySpec({ vocab_size: 258, eos_token_id: 257, bos_token_id: 256, sliding_window: 6 }, 21),
    { intraOpThreads: 1 },
  );
});
after(() => engine.release());

const request = (id: string, prompt: string, seed: number, maxTokens: number): GenerationRequest => ({
  id,
  prompt,
  maxTokens,
  stop: [],
  sampling: { temperature: 0.8, topK: 0, topP: 0.95, seed },
  ignoreEos: true,
});

/** Runs the requests; `later` are submitted when the first request has produced `at` tokens. */
async function run(now: GenerationRequest[], later: GenerationRequest[] = [], at = 0, chunk = 7) {
  const tokens = new Map<string, number[]>();
  let firstTokens = 0;
  let submitted = later.length === 0;
  let allSubmitted!: () => void;
  const submittedAll = new Promise<void>((resolve) => (allSubmitted = resolve));
  const scheduler: Scheduler = new Scheduler(engine, tokenizer, {
    prefillChunkTokens: chunk,
    onEvent: (event: GenerationEvent) => {
      if (event.type === 'failed') assert.fail(`${event.id}: ${event.message}`);
      if (event.type !== 'tokens') return;
      tokens.set(event.id, [...(tokens.get(event.id) ?? []), ...event.tokenIds]);
      if (event.id === now[0]!.id) firstTokens += event.tokenIds.length;
      if (!submitted && firstTokens >= at) {
        submitted = true;
        later.forEach((r) => {
          scheduler.submit(r);
        });
        allSubmitted();
      }
    },
  });
  now.forEach((r) => {
    scheduler.submit(r);
  });
  if (later.length > 0) await submittedAll; // close() refuses later submissions
  await scheduler.close();
  return tokens;
}

test('sequences admitted and finishing mid-way, long prompts prefilled in chunks, each gets its tokens alone', async () => {
  const long = 'a prompt long enough to be prefilled in several chunks of seven tokens while others decode';
  const first = [request('a', 'Hello there', 1, 40), request('b', 'x', 2, 6), request('c', 'short one', 3, 12)];
  const later = [
    request('d', long, 4, 20),
    request('e', 'Resume-free newcomer', 5, 9),
    request('f', 'f', 6, 30),
    request('g', `${long} and then some more`, 7, 5),
  ];
  const together = await run(first, later, 8);
  for (const r of [...first, ...later]) {
    const alone = (await run([r])).get(r.id);
    assert.equal(together.get(r.id)?.length, r.maxTokens, `${r.id} ran to max_tokens`);
    assert.deepEqual(together.get(r.id), alone, `tokens of ${r.id}`);
  }
});

test('a batch growing past its capacity and shrinking back keeps every sequence exact', async () => {
  const batch = engine.newBatch({ capacity: 1 });
  const vocab = 258;
  const seq = (salt: number) => Array.from({ length: 30 }, (_, i) => (i * 31 + salt * 17 + 1) % vocab);
  const alone = async (s: number[], prompt: number, steps: number) => {
    const b = engine.newBatch();
    const [p] = await b.prefill([s.slice(0, prompt)]);
    const out = [p!.logits];
    for (let i = 0; i < steps; i++) out.push((await b.step(new Map([[p!.id, s[prompt + i]!]]))).get(p!.id)!.slice());
    return out;
  };
  const seqs = [0, 1, 2, 3, 4].map(seq);
  const live = new Map<number, { s: number; fed: number; logits: Float32Array[] }>();
  const join = async (s: number, prompt: number) => {
    const [p] = await batch.prefill([seqs[s]!.slice(0, prompt)]);
    live.set(p!.id, { s, fed: prompt, logits: [p!.logits] });
    return p!.id;
  };
  const step = async () => {
    const out = await batch.step(new Map([...live].map(([id, l]) => [id, seqs[l.s]![l.fed]!])));
    for (const [id, l] of live) {
      l.fed++;
      l.logits.push(out.get(id)!.slice());
    }
  };
  const check = async (id: number) => {
    const l = live.get(id)!;
    const prompt = l.fed - (l.logits.length - 1);
    const expected = await alone(seqs[l.s]!, prompt, l.logits.length - 1);
    l.logits.forEach((logits, j) => {
      const worst = Math.max(...logits.map((v, i) => Math.abs(v - expected[j]![i]!)));
      assert.ok(worst <= 1e-5 * Math.max(1, ...expected[j]!.map(Math.abs)), `sequence ${l.s} step ${j}: ${worst}`);
    });
    batch.remove(id);
    live.delete(id);
  };
  const ids = [await join(0, 3), await join(1, 5)];
  await step();
  ids.push(await join(2, 2), await join(3, 4), await join(4, 1)); // capacity 1 -> 2 -> 4 -> 8
  assert.ok(batch.capacity >= 5);
  await step();
  await step();
  await check(ids[1]!);
  await check(ids[3]!);
  await check(ids[0]!); // two left of eight: the capacity halves
  assert.ok(batch.capacity < 8, `capacity ${batch.capacity} after most sequences left`);
  await step();
  await check(ids[2]!);
  await check(ids[4]!);
  assert.equal(batch.size, 0);
});

test('a sequence gets the same logits bit for bit alone, beside longer sequences and padded in prefill', async () => {
  const vocab = 258;
  const ids = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 31 + salt * 17 + 1) % vocab);
  const prompt = ids(41, 0);
  const fed = ids(30, 5);
  /** Logits of `prompt` then each of `fed`, with `others` in the batch (prefilled with it, or one by one). */
  const logitsOf = async (others: number[][], together: boolean) => {
    const batch = engine.newBatch();
    const prompts = [prompt, ...others];
    const prefilled = together ? await batch.prefill(prompts) : [];
    if (!together) for (const p of prompts) prefilled.push(...(await batch.prefill([p])));
    const id = prefilled[0]!.id;
    const out = [prefilled[0]!.logits.slice()];
    for (const t of fed) {
      const step = await batch.step(new Map(prefilled.map((p, j) => [p.id, (t + j) % vocab])));
      out.push(step.get(id)!.slice());
    }
    return out;
  };
  const alone = await logitsOf([], false);
  // Longer batch-mates make the batch reserve more cache rows than this sequence alone would.
  assert.deepEqual(await logitsOf([ids(300, 1), ids(90, 2)], false), alone, 'beside longer sequences');
  assert.deepEqual(await logitsOf([ids(90, 2), ids(10, 3)], true), alone, 'prefilled padded to a longer prompt');
});
