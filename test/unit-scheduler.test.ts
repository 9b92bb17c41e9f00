import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CompiledModel,
  type GenerationEvent,
  type GenerationRequest,
  prefillGroups,
  Scheduler,
  type SchedulerOptions,
} from '@sambay/engine';
import { initWeights, parseConfig, planLayers } from '@sambay/engine/model';
import { ByteTokenizer } from '@sambay/tokenizer';
import { byteModelConfig } from './helpers/models.js';

const config = parseConfig(byteModelConfig());
const plan = planLayers(config);
const tokenizer = new ByteTokenizer();
let engine: CompiledModel;

before(async () => {
  engine = await CompiledModel.create({ config, plan, weights: initWeights(config, plan, 3) });
});
after(() => engine.release());

interface Outcome {
  text: string;
  tokenIds: number[];
  /** Text streamed by the time each token was emitted. */
  textAt: string[];
  finished?: Extract<GenerationEvent, { type: 'finished' }>;
}

/** Runs requests through one scheduler and collects each one's streamed text, tokens and end. */
async function run(
  requests: GenerationRequest[],
  maxSequences = 8,
  during?: (s: Scheduler, events: GenerationEvent[]) => void,
  limits: Pick<SchedulerOptions, 'prefillBudget' | 'prefillChunkTokens'> = {},
) {
  const events: GenerationEvent[] = [];
  const scheduler = new Scheduler(engine, tokenizer, {
    maxSequences,
    ...limits,
    onEvent: (event) => {
      events.push(event);
      during?.(scheduler, events);
    },
  });
  requests.forEach((r) => {
    scheduler.submit(r);
  });
  await scheduler.close();
  const outcomes = new Map<string, Outcome>(
    requests.map((r) => [r.id, { text: '', tokenIds: [], textAt: [] as string[] }]),
  );
  for (const event of events) {
    const outcome = outcomes.get(event.id)!;
    if (event.type === 'tokens') {
      outcome.text += event.text;
      outcome.tokenIds.push(...event.tokenIds);
      event.tokenIds.forEach(() => outcome.textAt.push(outcome.text));
    } else if (event.type === 'finished') outcome.finished = event;
    else if (event.type === 'failed') assert.fail(`${event.id} failed: ${event.message}`);
  }
  return outcomes;
}

const request = (
  id: string,
  prompt: string,
  seed: number,
  maxTokens = 24,
  extra: Partial<GenerationRequest> = {},
): GenerationRequest => ({
  id,
  prompt,
  maxTokens,
  stop: [],
  sampling: { temperature: 0.9, topK: 0, topP: 0.95, seed },
  ...extra,
});

test('sequences decoded together produce what each produces alone', async () => {
  const requests = [request('a', 'Hello', 1), request('b', 'A longer prompt here', 2, 40), request('c', 'x', 3, 8)];
  const together = await run(requests, 8);
  for (const r of requests) {
    const alone = (await run([r], 1)).get(r.id)!;
    assert.deepEqual(together.get(r.id)!.tokenIds, alone.tokenIds, `tokens of ${r.id}`);
    assert.equal(together.get(r.id)!.text, alone.text);
  }
});

test('a full scheduler admits waiting requests as places free up, without changing outputs', async () => {
  const requests = [1, 2, 3, 4, 5].map((seed) => request(`r${seed}`, `prompt ${seed}`, seed, 6 + seed * 3));
  const narrow = await run(requests, 2);
  const wide = await run(requests, 8);
  for (const r of requests) assert.deepEqual(narrow.get(r.id)!.tokenIds, wide.get(r.id)!.tokenIds);
  for (const r of requests) assert.equal(narrow.get(r.id)!.finished?.reason, 'length');
});

test('max_tokens bounds the output and the finish reason says length', async () => {
  const outcome = (await run([request('a', 'Count', 4, 10)])).get('a')!;
  assert.equal(outcome.tokenIds.length, 10);
  assert.equal(outcome.finished?.generatedTokens, 10);
  assert.equal(outcome.finished.reason, 'length');
});

test('a resumed request continues exactly where the earlier attempt stopped', async () => {
  const full = (await run([request('a', 'Resume me', 9, 30)])).get('a')!;
  const k = 11;
  assert.ok(full.tokenIds.length > k + 1, 'the uninterrupted run goes past the resume point');
  const resumed = (await run([request('a', 'Resume me', 9, 30, { resumeTokens: full.tokenIds.slice(0, k) })])).get(
    'a',
  )!;
  assert.deepEqual(resumed.tokenIds, full.tokenIds.slice(k));
  assert.equal(full.textAt[k - 1]! + resumed.text, full.text);
  assert.equal(resumed.finished?.generatedTokens, full.tokenIds.length);
  assert.equal(resumed.finished.reason, full.finished?.reason);
});

test('a stop string ends the generation and is not part of the text', async () => {
  const full = (await run([request('a', 'Stop test', 5, 40)])).get('a')!;
  const middle = full.text.length >> 1;
  const stop = full.text.slice(middle, middle + 2);
  assert.equal(stop.length, 2, `text long enough to pick a stop string from: ${JSON.stringify(full.text)}`);
  const stopped = (await run([request('a', 'Stop test', 5, 40, { stop: [stop] })])).get('a')!;
  assert.equal(stopped.finished?.reason, 'stop_sequence');
  assert.equal(stopped.text, full.text.slice(0, full.text.indexOf(stop)));
});

test('cancel stops a running sequence within a step and leaves the others alone', async () => {
  const requests = [request('long', 'Long one', 1, 200), request('other', 'Other', 2, 30)];
  let cancelled = false;
  const outcomes = await run(requests, 8, (scheduler, events) => {
    const longTokens = events.filter((e) => e.id === 'long' && e.type === 'tokens').length;
    if (!cancelled && longTokens === 5) {
      cancelled = true;
      scheduler.cancel('long');
    }
  });
  const long = outcomes.get('long')!;
  assert.equal(long.finished?.reason, 'cancelled');
  assert.ok(long.tokenIds.length <= 6, `cancelled after ${long.tokenIds.length} tokens`);
  const alone = (await run([requests[1]!])).get('other')!;
  assert.deepEqual(outcomes.get('other')!.tokenIds, alone.tokenIds);
});

test('a cancel that arrives while its prompt is being prefilled is not lost', async () => {
  const events: GenerationEvent[] = [];
  const scheduler = new Scheduler(engine, tokenizer, { maxSequences: 4, onEvent: (e) => events.push(e) });
  // The cancel comes from inside the prefill call: the request is out of the waiting list and not
  // yet running.
  const prefill = engine.prefill.bind(engine);
  engine.prefill = (feeds) => {
    assert.deepEqual(events, [], 'nothing has started yet');
    scheduler.cancel('mid-prefill');
    return prefill(feeds);
  };
  try {
    scheduler.submit(request('mid-prefill', 'a short prompt', 1, 400));
    await scheduler.close();
  } finally {
    engine.prefill = prefill;
  }
  const finished = events.find((e) => e.type === 'finished');
  assert.equal(finished?.type === 'finished' && finished.reason, 'cancelled');
  const generated = events.flatMap((e) => (e.type === 'tokens' ? e.tokenIds : []));
  assert.ok(generated.length <= 2, `cancelled after ${generated.length} tokens`); // its first token and one step
});

test('a sequence whose sampling fails is failed alone; the batch goes on', async () => {
  const events: GenerationEvent[] = [];
  const scheduler = new Scheduler(engine, tokenizer, { maxSequences: 4, onEvent: (e) => events.push(e) });
  // top_p outside (0, 1] trips the sampler's invariant check (the API would have refused it).
  scheduler.submit(request('bad', 'Bad', 1, 10, { sampling: { temperature: 1, topK: 0, topP: 20, seed: 1 } }));
  scheduler.submit(request('good', 'Good', 2, 10));
  await scheduler.close();
  const failed = events.find((e) => e.type === 'failed');
  assert.equal(failed?.id, 'bad');
  assert.match((failed as { message: string }).message, /topP/);
  const good = events.filter((e) => e.id === 'good');
  assert.equal(good.at(-1)?.type, 'finished');
  assert.deepEqual(
    good.flatMap((e) => (e.type === 'tokens' ? e.tokenIds : [])),
    (await run([request('good', 'Good', 2, 10)])).get('good')!.tokenIds,
  );
});

test('prefill groups keep admission order and stay within batch x T^2, long prompts alone', () => {
  const seqs = [10, 10, 10, 40, 10, 10].map((n, i) => ({ i, prefillIds: Array<number>(n).fill(0) }));
  const groups = prefillGroups(seqs, 1000);
  assert.deepEqual(
    groups.map((g) => g.map((s) => s.i)),
    [[0, 1, 2], [3], [4, 5]],
  );
  for (const g of groups.filter((g) => g.length > 1)) {
    const t = Math.max(...g.map((s) => s.prefillIds.length));
    assert.ok(g.length * t * t <= 1000);
  }
});

test('a budget that splits the prefill changes no output', async () => {
  const requests = [1, 2, 3].map((seed) => request(`p${seed}`, `prompt number ${seed}`, seed, 12));
  const split = await run(requests, 8, undefined, { prefillBudget: 1 });
  const together = await run(requests, 8);
  for (const r of requests) assert.deepEqual(split.get(r.id)!.tokenIds, together.get(r.id)!.tokenIds);
});

test('contexts longer than one prefill go through decode steps and produce the same tokens', async () => {
  const requests = [request('long', 'A prompt longer than the prefill head', 4, 16), request('short', 'ab', 5, 16)];
  const stepped = await run(requests, 8, undefined, { prefillChunkTokens: 5 });
  const plain = await run(requests, 8);
  for (const r of requests) assert.deepEqual(stepped.get(r.id)!.tokenIds, plain.get(r.id)!.tokenIds, r.id);
});
