import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CompiledModel,
  type GenerationEvent,
  type GenerationRequest,
  Scheduler,
  type SchedulerStats,
  stateByteSize,
  stateLayout,
} from '@sambay/engine';
import { transformerLayerTypes, type ModelSpec } from '@sambay/engine/model';
import { ByteTokenizer } from '@sambay/tokenizer';
import { tinySpec } from './helpers/models.js';

/** Admission by state bytes: the scheduler admits while each sequence's state at prompt + max_tokens fits. */

const tokenizer = new ByteTokenizer();
const BYTE_MODEL = { vocab_size: 258, eos_token_id: 257, bos_token_id: 256, sliding_window: 6 };
const spec = tinySpec(BYTE_MODEL, 5);
let engine: CompiledModel;

before(async () => {
  engine = await CompiledModel.create(spec, { intraOpThreads: 1 });
});
after(() => engine.release());

const request = (id: string, prompt: string, maxTokens: number): GenerationRequest => ({
  id,
  prompt,
  maxTokens,
  stop: [],
  sampling: { temperature: 0.7, topK: 0, topP: 1, seed: id.length },
  ignoreEos: true,
});

const promptTokens = (r: GenerationRequest) => tokenizer.encode(r.prompt).length;
/** Bytes a request's state takes at its final length. */
const finalBytes = (r: GenerationRequest, model: ModelSpec = spec) =>
  stateByteSize(stateLayout(model), promptTokens(r) + r.maxTokens);

async function run(requests: GenerationRequest[], stateBudgetBytes?: number, model: CompiledModel = engine) {
  const events: GenerationEvent[] = [];
  const seen: SchedulerStats[] = [];
  const scheduler: Scheduler = new Scheduler(model, tokenizer, {
    ...(stateBudgetBytes === undefined ? {} : { stateBudgetBytes }),
    onEvent: (event) => {
      events.push(event);
      seen.push(scheduler.stats());
    },
  });
  requests.forEach((r) => {
    scheduler.submit(r);
  });
  await scheduler.close();
  const tokens = (id: string) => events.flatMap((e) => (e.id === id && e.type === 'tokens' ? e.tokenIds : []));
  return { events, seen, tokens };
}

test('the running sequences never hold more state than the budget, and their tokens do not change', async () => {
  const requests = ['first prompt', 'second', 'a third one', 'fourth', 'the fifth'].map((p, i) =>
    request(`r${i}`, p, 20 + 5 * i),
  );
  const sizes = requests.map((r) => finalBytes(r));
  const budget = sizes[3]! + sizes[4]! + 1; // any two fit, never three
  const limited = await run(requests, budget);
  const unlimited = await run(requests);
  assert.ok(limited.seen.length > 0);
  for (const s of limited.seen) {
    assert.ok(s.reservedStateBytes <= budget, `reserved ${s.reservedStateBytes} > budget ${budget}`);
    assert.ok(s.stateBytes <= s.reservedStateBytes, 'state held now is within what was reserved');
    assert.ok(s.batchSize + s.prefilling <= 2, `${s.batchSize} running + ${s.prefilling} prefilling`);
    assert.equal(s.stateBudgetBytes, budget);
  }
  assert.ok(
    limited.seen.some((s) => s.batchSize === 2),
    'two sequences ran together',
  );
  assert.ok(
    unlimited.seen.some((s) => s.batchSize === 5),
    'without a budget all five ran together',
  );
  for (const r of requests) assert.deepEqual(limited.tokens(r.id), unlimited.tokens(r.id), r.id);
});

test('stats report the batch and the bytes its sequences hold', async () => {
  const r = request('only', 'hello stats', 7);
  const { seen } = await run([r], 10 * finalBytes(r));
  const lastTokens = seen.at(-2)!; // before the finished event drops it
  assert.equal(lastTokens.batchSize, 1);
  assert.equal(lastTokens.reservedStateBytes, finalBytes(r));
  // The last sampled token is never fed back, so the state ends one token short of the reservation.
  const held = stateByteSize(stateLayout(spec), promptTokens(r) + r.maxTokens - 1);
  assert.equal(lastTokens.stateBytes, held, 'the state of prompt + max_tokens - 1 tokens');
  assert.equal(seen.at(-1)!.batchSize, 0);
  assert.ok(lastTokens.allocatedBytes >= lastTokens.stateBytes);
});

test('a request whose state could never fit the budget fails and the others run', async () => {
  const small = request('small', 'ok', 5);
  const huge = request('huge', 'too long for the budget', 500);
  const { events, tokens } = await run([huge, small], finalBytes(small) * 2);
  const failed = events.find((e) => e.type === 'failed');
  assert.equal(failed?.id, 'huge');
  assert.match((failed as { message: string }).message, /state budget/);
  assert.equal(tokens('small').length, 5);
});

test('with one budget SambaY runs as many times more sequences as its state is smaller than a Transformer', async () => {
  const transformerSpec = tinySpec({ ...BYTE_MODEL, layer_types: transformerLayerTypes(8) }, 5);
  const transformer = await CompiledModel.create(transformerSpec, { intraOpThreads: 1 });
  try {
    const requests = Array.from({ length: 24 }, (_, i) =>
      request(`seq${String(i).padStart(2, '0')}`, 'same size', 200),
    );
    const [sambayBytes, transformerBytes] = [finalBytes(requests[0]!), finalBytes(requests[0]!, transformerSpec)];
    const budget = 3 * transformerBytes; // three Transformer sequences
    const most = (seen: SchedulerStats[]) => Math.max(...seen.map((s) => s.batchSize));
    const sambayMost = most((await run(requests, budget)).seen);
    const transformerMost = most((await run(requests, budget, transformer)).seen);
    assert.equal(transformerMost, 3);
    assert.equal(sambayMost, Math.floor(budget / sambayBytes), 'as many as their final states fit');
    // The byte ratio of the two states, up to the rounding down of whole sequences.
    assert.ok(
      sambayMost / transformerMost > transformerBytes / sambayBytes - 1 / 3,
      `${sambayMost} vs ${transformerMost}`,
    );
  } finally {
    await transformer.release();
  }
});
