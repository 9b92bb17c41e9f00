import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompiledModel, EmptyPromptError, type SequenceBatch, StepTokensError } from '@sambay/engine';
import type { ModelSpec } from '@sambay/engine/model';
import { referenceLogits } from '@sambay/engine/reference';
import { tinySpec } from './helpers/models.js';

/** Cached decoding against the reference's full recomputation, for several model shapes. */

const tokens = (n: number, vocab: number, salt = 0) =>
  Array.from({ length: n }, (_, i) => (i * 37 + salt * 11 + 5) % vocab);

const argmax = (x: Float32Array) => x.reduce((best, v, i) => (v > x[best]! ? i : best), 0);

function assertClose(actual: Float32Array, expected: Float32Array, what: string, tol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: vocab size`);
  const scale = Math.max(1, ...expected.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  assert.ok(
    worst <= tol * scale,
    `${what}: max abs diff ${worst.toExponential(2)} > ${tol} x scale ${scale.toFixed(2)}`,
  );
  assert.equal(argmax(actual), argmax(expected), `${what}: argmax`);
}

/** Prefill the first k ids, then feed the rest one step at a time; logits after each prefix length k..n. */
async function cachedLogits(batch: SequenceBatch, ids: number[], k: number): Promise<Float32Array[]> {
  const [first] = await batch.prefill([ids.slice(0, k)]);
  const out = [first!.logits];
  for (const t of ids.slice(k)) out.push((await batch.step(new Map([[first!.id, t]]))).get(first!.id)!);
  return out;
}

async function withEngine(spec: ModelSpec, run: (engine: CompiledModel) => Promise<void>): Promise<void> {
  const engine = await CompiledModel.create(spec, { intraOpThreads: 1 });
  try {
    await run(engine);
  } finally {
    await engine.release();
  }
}

const configs: { name: string; overrides: Record<string, unknown>; length: number }[] = [
  {
    name: 'SambaY d32 heads 4/2 window 3',
    overrides: { hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, sliding_window: 3 },
    length: 10,
  },
  {
    name: 'SambaY d64 heads 8/4 window 2, untied head',
    overrides: {
      hidden_size: 64,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      sliding_window: 2,
      tie_word_embeddings: false,
    },
    length: 8,
  },
  {
    name: 'SambaY d32 heads 4/4 window 5, d_conv 3, no conv bias',
    overrides: {
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      sliding_window: 5,
      mamba_d_conv: 3,
      mamba_conv_bias: false,
    },
    length: 15,
  },
  {
    name: 'SambaY 12 layers d48 heads 6/2 window 4',
    overrides: {
      hidden_size: 48,
      num_hidden_layers: 12,
      num_attention_heads: 6,
      num_key_value_heads: 2,
      sliding_window: 4,
    },
    length: 12,
  },
  {
    name: 'Transformer baseline (all full attention)',
    overrides: {
      hidden_size: 32,
      num_hidden_layers: 4,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      sliding_window: 3,
      layer_types: Array(4).fill('full_attention'),
    },
    length: 9,
  },
];

for (const { name, overrides, length } of configs) {
  test(`cached decoding matches the reference at every step: ${name}`, async () => {
    const spec = tinySpec({ num_hidden_layers: 8, ...overrides }, 7);
    const ids = tokens(length, spec.config.vocabSize);
    const expected = referenceLogits(spec, ids);
    await withEngine(spec, async (engine) => {
      for (const k of [1, 4]) {
        const got = await cachedLogits(engine.newBatch(), ids, k);
        got.forEach((logits, j) => {
          assertClose(logits, expected[k - 1 + j]!, `prefill ${k}, position ${k - 1 + j}`);
        });
      }
    });
  });
}

test('a batch of different prompt lengths, prefilled and decoded together, equals each decoded alone', async () => {
  const spec = tinySpec(
    { num_hidden_layers: 8, hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, sliding_window: 3 },
    3,
  );
  const vocab = spec.config.vocabSize;
  const seqs = [tokens(11, vocab, 1), tokens(11, vocab, 2), tokens(11, vocab, 3)];
  const promptLengths = [1, 6, 3];
  await withEngine(spec, async (engine) => {
    const batch = engine.newBatch();
    const prefilled = await batch.prefill(seqs.map((s, i) => s.slice(0, promptLengths[i])));
    const together: Float32Array[][] = prefilled.map((p) => [p.logits]);
    for (let step = 0; step < 5; step++) {
      const next = new Map(prefilled.map((p, i) => [p.id, seqs[i]![promptLengths[i]! + step]!]));
      const out = await batch.step(next);
      prefilled.forEach((p, i) => together[i]!.push(out.get(p.id)!));
    }
    for (const [i, seq] of seqs.entries()) {
      const alone = await cachedLogits(engine.newBatch(), seq.slice(0, promptLengths[i]! + 5), promptLengths[i]!);
      alone.forEach((logits, j) => {
        assertClose(together[i]![j]!, logits, `sequence ${i}, step ${j}`, 1e-5);
      });
      assert.equal(batch.length(prefilled[i]!.id), promptLengths[i]! + 5);
    }
  });
});

test('sequences joining and leaving a batch mid-way leave the others unchanged', async () => {
  const spec = tinySpec(
    { num_hidden_layers: 8, hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, sliding_window: 3 },
    5,
  );
  const vocab = spec.config.vocabSize;
  const seqs = [tokens(14, vocab, 4), tokens(14, vocab, 5), tokens(14, vocab, 6)];
  const expected = seqs.map((s) => referenceLogits(spec, s));
  await withEngine(spec, async (engine) => {
    const batch = engine.newBatch();
    const fed = new Map<number, { seq: number; n: number }>(); // id -> which sequence, tokens fed
    const join = async (seq: number, prompt: number) => {
      const [p] = await batch.prefill([seqs[seq]!.slice(0, prompt)]);
      assertClose(p!.logits, expected[seq]![prompt - 1]!, `sequence ${seq} prefill`);
      fed.set(p!.id, { seq, n: prompt });
      return p!.id;
    };
    const step = async () => {
      const out = await batch.step(new Map([...fed].map(([id, s]) => [id, seqs[s.seq]![s.n]!])));
      for (const [id, s] of fed) {
        s.n++;
        assertClose(out.get(id)!, expected[s.seq]![s.n - 1]!, `sequence ${s.seq} at ${s.n}`);
      }
    };
    const a = await join(0, 2);
    await step();
    await step();
    await join(1, 4); // joins while 0 is decoding
    await step();
    await step();
    batch.remove(a); // the first slot leaves: the last slot moves into it
    fed.delete(a);
    await step();
    await join(2, 1);
    await step();
    await step();
    assert.equal(batch.size, 2);
    assert.deepEqual(new Set(batch.ids()), new Set(fed.keys()));
  });
});

test('empty prompts and incomplete steps are typed errors', async () => {
  const spec = tinySpec(
    { num_hidden_layers: 4, hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2, sliding_window: 3 },
    1,
  );
  await withEngine(spec, async (engine) => {
    const batch = engine.newBatch();
    await assert.rejects(batch.prefill([[1, 2], []]), EmptyPromptError);
    const [a, b] = await batch.prefill([[1, 2], [3]]);
    await assert.rejects(batch.step(new Map([[a!.id, 4]])), StepTokensError);
    assert.equal(batch.length(b!.id), 1);
  });
});
