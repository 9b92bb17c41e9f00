// State checkpoints in the scheduler: `checkpoint(id)` exports a running sequence's state after the
// tokens event it covers, and a request resumed with that state (`resumeState`) plus the tokens after
// it continues exactly as the uninterrupted run and as a resume from the prompt; a checkpoint that
// does not fit (another config, bad bytes, wrong token count) falls back to the prompt. Resumed
// tokens replayed by decode steps rebuild the uninterrupted run's state bit for bit.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CompiledModel,
  type GenerationEvent,
  type GenerationRequest,
  Scheduler,
  type SchedulerOptions,
} from '@sambay/engine';
import { initWeights, parseConfig, planLayers } from '@sambay/engine/model';
import { ByteTokenizer } from '@sambay/tokenizer';
import { byteModelConfig } from './helpers/models.js';

const tokenizer = new ByteTokenizer();
let engine: CompiledModel;

function compile(overrides: Record<string, unknown> = {}): Promise<CompiledModel> {
  const config = parseConfig({ ...byteModelConfig(), ...overrides });
  const plan = planLayers(config);
  return CompiledModel.create({ config, plan, weights: initWeights(config, plan, 3) });
}

before(async () => {
  engine = await compile();
});
after(() => engine.release());

type Checkpoint = Extract<GenerationEvent, { type: 'checkpoint' }>;
type Started = Extract<GenerationEvent, { type: 'started' }>;

interface Outcome {
  tokenIds: number[];
  text: string;
  /** Text streamed by the time each token was emitted. */
  textAt: string[];
  started?: Started;
  finished?: Extract<GenerationEvent, { type: 'finished' }>;
  checkpoints: Checkpoint[];
  events: GenerationEvent[];
}

/** Runs the requests on one scheduler (small prefill chunks, so resumed tokens take several). */
async function run(
  requests: GenerationRequest[],
  during?: (s: Scheduler, event: GenerationEvent) => void,
  options: Pick<SchedulerOptions, 'maxReplayMs'> = {},
) {
  const outcomes = new Map<string, Outcome>(
    requests.map((r) => [r.id, { tokenIds: [], text: '', textAt: [], checkpoints: [], events: [] }]),
  );
  const scheduler: Scheduler = new Scheduler(engine, tokenizer, {
    maxSequences: 8,
    prefillChunkTokens: 8,
    ...options,
    onEvent: (event) => {
      const o = outcomes.get(event.id)!;
      o.events.push(event);
      if (event.type === 'tokens') {
        o.text += event.text;
        o.tokenIds.push(...event.tokenIds);
        event.tokenIds.forEach(() => o.textAt.push(o.text));
      } else if (event.type === 'started') o.started = event;
      else if (event.type === 'finished') o.finished = event;
      else if (event.type === 'checkpoint') o.checkpoints.push(event);
      else assert.fail(`${event.id} failed: ${event.message}`);
      during?.(scheduler, event);
    },
  });
  for (const r of requests) scheduler.submit(r);
  await scheduler.close();
  return outcomes;
}

const request = (
  id: string,
  prompt: string,
  seed: number,
  extra: Partial<GenerationRequest> = {},
): GenerationRequest => ({
  id,
  prompt,
  maxTokens: 60,
  stop: [],
  ignoreEos: true,
  sampling: { temperature: 0.9, topK: 0, topP: 0.95, seed },
  ...extra,
});

/** The uninterrupted run of `r`, asking for checkpoints right away and at `at` generated tokens. */
async function uninterrupted(r: GenerationRequest, at: number[]): Promise<Outcome> {
  const outcomes = await run([r], (s, event) => {
    if (event.type === 'tokens' && at.includes(event.generated)) s.checkpoint(r.id);
  });
  return outcomes.get(r.id)!;
}

/** Asserts a resumed run streamed exactly the uninterrupted run's tokens and text after `k`. */
function assertContinues(resumed: Outcome, full: Outcome, k: number, what: string): void {
  assert.deepEqual(resumed.tokenIds, full.tokenIds.slice(k), `${what}: tokens`);
  assert.equal(full.textAt[k - 1]! + resumed.text, full.text, `${what}: text`);
  assert.equal(resumed.finished?.generatedTokens, full.tokenIds.length, `${what}: generated`);
  assert.equal(resumed.finished.reason, full.finished?.reason, `${what}: reason`);
}

test('a checkpoint covers all but the last sampled token and follows the tokens event it covers', async () => {
  const r = request('a', 'Checkpoint me, please', 7);
  let asked = false;
  const outcomes = await run([r], (s, event) => {
    if (!asked) s.checkpoint('a'); // at `started`: answered at the end of its first decode step
    asked = true;
    if (event.type === 'tokens' && event.generated === 20) s.checkpoint('a');
  });
  const { events, checkpoints } = outcomes.get('a')!;
  assert.deepEqual(
    checkpoints.map((c) => c.tokens),
    [1, 19],
  );
  for (const checkpoint of checkpoints) {
    const before = events[events.indexOf(checkpoint) - 1];
    assert.ok(before?.type === 'tokens' && before.generated === checkpoint.tokens + 1, 'after the tokens it covers');
    assert.ok(checkpoint.state.byteLength > 0);
  }
});

test('resumed from a checkpoint = uninterrupted = resumed from the prompt, alone and in a batch', async () => {
  const r = request('a', 'A prompt longer than one prefill chunk', 9);
  const full = await uninterrupted(r, [1, 20]);
  const [first, late] = full.checkpoints;
  assert.ok(first && late, 'two checkpoints');
  assert.deepEqual([first.tokens, late.tokens], [1, 19]);
  // Resume points: right after each checkpoint, and several chunks of tokens after it.
  for (const [checkpoint, k] of [
    [first, 2],
    [first, 5],
    [late, 20],
    [late, 45],
  ] as const) {
    const resumeTokens = full.tokenIds.slice(0, k);
    const fromCheckpoint = (await run([{ ...r, resumeTokens, resumeState: checkpoint }])).get('a')!;
    assert.equal(
      fromCheckpoint.started?.resumedFrom,
      'checkpoint',
      `k=${k}: ${fromCheckpoint.started?.checkpointError}`,
    );
    assertContinues(fromCheckpoint, full, k, `checkpoint ${checkpoint.tokens}, k=${k}`);
    const fromPrefill = (await run([{ ...r, resumeTokens }])).get('a')!;
    assert.equal(fromPrefill.started?.resumedFrom, 'prefill');
    assertContinues(fromPrefill, full, k, `from the prompt, k=${k}`);
  }
  // Next to other sequences: one decoding, one long prompt being prefilled, one resumed from the prompt.
  const others = [request('b', 'Another sequence', 2), request('c', 'x'.repeat(40), 3)];
  const alone = await run(others);
  const together = await run([
    ...others,
    { ...r, resumeTokens: full.tokenIds.slice(0, 30), resumeState: late },
    { ...r, id: 'd', resumeTokens: full.tokenIds.slice(0, 30) },
  ]);
  assertContinues(together.get('a')!, full, 30, 'in a batch, from the checkpoint');
  assertContinues(together.get('d')!, full, 30, 'in a batch, from the prompt');
  assert.equal(together.get('a')!.started?.resumedFrom, 'checkpoint');
  for (const o of others) assert.deepEqual(together.get(o.id)!.tokenIds, alone.get(o.id)!.tokenIds, o.id);
});

test('a checkpoint that does not fit falls back to the prompt with the same output', async () => {
  const r = request('a', 'Fallback', 4);
  const full = await uninterrupted(r, [10]);
  const checkpoint = full.checkpoints[0]!;
  assert.equal(checkpoint.tokens, 9);
  const other = await compile({ sliding_window: 4 });
  let foreign: Uint8Array;
  try {
    const batch = other.newBatch();
    const [prefilled] = await batch.prefill([[...tokenizer.encode('Fallback'), ...full.tokenIds.slice(0, 9)]]);
    foreign = batch.exportState(prefilled!.id);
  } finally {
    await other.release();
  }
  const corrupt = checkpoint.state.slice();
  corrupt[0] = 0;
  const k = 25;
  const resumeTokens = full.tokenIds.slice(0, k);
  const cases: [string, GenerationRequest['resumeState'], RegExp][] = [
    ['another model config', { state: foreign, tokens: 9 }, /fingerprint/],
    ['bad bytes', { state: corrupt, tokens: 9 }, /magic/],
    [
      'a token count its state does not hold',
      { state: checkpoint.state, tokens: 12 },
      /holds \d+ tokens of context, not \d+/,
    ],
    ['as many tokens as were resumed', { state: checkpoint.state, tokens: k }, /fewer than the 25 resumed/],
  ];
  for (const [what, resumeState, error] of cases) {
    const resumed = (await run([{ ...r, resumeTokens, resumeState }])).get('a')!;
    assert.equal(resumed.started?.resumedFrom, 'prefill', what);
    assert.match(resumed.started.checkpointError ?? '', error, what);
    assertContinues(resumed, full, k, what);
  }
});

test('a checkpoint asked for a request that ends first, or an unknown id, is never emitted', async () => {
  const outcomes = await run([request('a', 'Short', 5, { maxTokens: 3 })], (s, event) => {
    s.checkpoint('nobody');
    if (event.type === 'tokens' && event.generated === 3) s.checkpoint('a'); // the step that finishes it
  });
  assert.deepEqual(outcomes.get('a')!.checkpoints, []);
  assert.equal(outcomes.get('a')!.finished?.generatedTokens, 3);
});

test('resumed tokens replayed by decode steps rebuild the uninterrupted state bit for bit, in any batch', async () => {
  const r = request('a', 'A prompt longer than one prefill chunk', 6);
  const full = await uninterrupted(r, [20, 41]);
  const [late, end] = full.checkpoints;
  assert.deepEqual([late?.tokens, end?.tokens], [19, 40]);
  const k = 30;
  const resumeTokens = full.tokenIds.slice(0, k);
  /** Resumes `a` beside sequences whose lengths make the batch reserve other cache rows than alone. */
  const resume = async (extra: Partial<GenerationRequest>, options: Pick<SchedulerOptions, 'maxReplayMs'> = {}) => {
    const others = [request('b', 'y'.repeat(70), 2, { maxTokens: 40 }), request('c', 'Short', 3)];
    const outcomes = await run(
      [...others, { ...r, resumeTokens, ...extra }],
      (s, event) => {
        if (event.id === 'a' && event.type === 'tokens' && event.generated === 41) s.checkpoint('a');
      },
      options,
    );
    return outcomes.get('a')!;
  };
  const byPrompt = await resume({});
  assert.equal(byPrompt.started?.replayTokens, k, 'every resumed token replayed after the prompt');
  assert.deepEqual(byPrompt.checkpoints[0]?.state, end!.state, 'replayed from the prompt');
  assertContinues(byPrompt, full, k, 'replayed from the prompt');

  const byCheckpoint = await resume({ resumeState: late });
  assert.equal(byCheckpoint.started?.resumedFrom, 'checkpoint');
  assert.equal(byCheckpoint.started.replayTokens, k - late!.tokens, 'the tokens after the checkpoint replayed');
  assert.deepEqual(byCheckpoint.checkpoints[0]?.state, end!.state, 'replayed from the checkpoint');

  // Replays off: prefill takes the resumed tokens: the same tokens here, but not the same bits.
  const prefilled = await resume({}, { maxReplayMs: 0 });
  assert.equal(prefilled.started?.replayTokens, undefined);
  assert.notDeepEqual(prefilled.checkpoints[0]?.state, end!.state, 'prefill rounds differently from decode');
  assertContinues(prefilled, full, k, 'prefilled');

  // A replay that would outlast its time budget (any step is longer than this one) leaves the batch
  // after its first step, prefills the rest and rejoins: one `started`, the stream goes on.
  const cut = await resume({}, { maxReplayMs: 1e-6 });
  assert.equal(cut.started?.replayTokens, k);
  assert.equal(cut.events.filter((e) => e.type === 'started').length, 1);
  assert.notDeepEqual(cut.checkpoints[0]?.state, end!.state, 'the rest prefilled');
  assertContinues(cut, full, k, 'replay cut short');
});
