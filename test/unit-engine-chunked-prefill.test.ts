import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompiledModel } from '@sambay/engine';
import { referenceLogits } from '@sambay/engine/reference';
import { tinySpec } from './helpers/models.js';

/**
 * Prefill from existing state: a sequence extended chunk by chunk, then decoded one token at a time,
 * against the reference's whole-sequence recomputation at every position it returns logits for.
 * Chunks are longer and shorter than the sliding window, so ring rows wrap inside a chunk and
 * between chunks.
 */

const tokens = (n: number, vocab: number, salt = 0) =>
  Array.from({ length: n }, (_, i) => (i * 29 + salt * 7 + 3) % vocab);

/** The parity test's tolerance: max abs diff <= 1e-4 x the largest logit (at least 1), same argmax. */
function assertClose(actual: Float32Array, expected: Float32Array, what: string, tol = 1e-4): void {
  const scale = Math.max(1, ...expected.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  assert.ok(
    worst <= tol * scale,
    `${what}: max abs diff ${worst.toExponential(2)} > ${tol} x scale ${scale.toFixed(2)}`,
  );
  const argmax = (x: Float32Array) => x.reduce((best, v, i) => (v > x[best]! ? i : best), 0);
  assert.equal(argmax(actual), argmax(expected), `${what}: argmax`);
}

const configs: { name: string; overrides: Record<string, unknown> }[] = [
  { name: 'SambaY heads 4/2 window 3', overrides: { sliding_window: 3 } },
  {
    name: 'SambaY 12 layers heads 6/2 window 4, d_conv 3',
    overrides: { num_hidden_layers: 12, hidden_size: 48, num_attention_heads: 6, sliding_window: 4, mamba_d_conv: 3 },
  },
  { name: 'Transformer baseline', overrides: { num_hidden_layers: 4, layer_types: Array(4).fill('full_attention') } },
];

for (const { name, overrides } of configs) {
  test(`chunked prefill then cached decode equals whole-sequence recomputation: ${name}`, async () => {
    const spec = tinySpec(overrides, 13);
    const ids = tokens(20, spec.config.vocabSize);
    const expected = referenceLogits(spec, ids);
    const engine = await CompiledModel.create(spec, { intraOpThreads: 1 });
    try {
      for (const chunks of [
        [1, 1, 1],
        [2, 5, 1, 4],
        [7, 6],
      ]) {
        const batch = engine.newBatch({ capacity: 1 });
        const [first] = await batch.prefill([ids.slice(0, chunks[0])]);
        const id = first!.id;
        let at = chunks[0]!;
        assertClose(first!.logits, expected[at - 1]!, `chunks ${chunks.join('+')}: first chunk`);
        for (const n of chunks.slice(1)) {
          const logits = (await batch.extend(new Map([[id, ids.slice(at, at + n)]]))).get(id)!;
          at += n;
          assertClose(logits, expected[at - 1]!, `chunks ${chunks.join('+')}: after ${at} tokens`);
        }
        assert.equal(batch.length(id), at);
        for (; at < ids.length; at++) {
          const logits = (await batch.step(new Map([[id, ids[at]!]]))).get(id)!;
          assertClose(logits, expected[at]!, `chunks ${chunks.join('+')}: decode at ${at}`);
        }
      }
    } finally {
      await engine.release();
    }
  });
}

test('one extend call over sequences of different cached lengths and chunk sizes equals the reference', async () => {
  const spec = tinySpec({ sliding_window: 3 }, 17);
  const vocab = spec.config.vocabSize;
  const seqs = [tokens(15, vocab, 1), tokens(15, vocab, 2), tokens(15, vocab, 3)];
  const expected = seqs.map((s) => referenceLogits(spec, s));
  const engine = await CompiledModel.create(spec, { intraOpThreads: 1 });
  try {
    const batch = engine.newBatch();
    const prompts = [1, 6, 3];
    const prefilled = await batch.prefill(seqs.map((s, i) => s.slice(0, prompts[i])));
    const ids = prefilled.map((p) => p.id);
    // Only sequences 0 and 2 are extended; sequence 1 must be left exactly as it was.
    const chunk = new Map([
      [ids[0]!, seqs[0]!.slice(1, 9)],
      [ids[2]!, seqs[2]!.slice(3, 5)],
    ]);
    const out = await batch.extend(chunk);
    assertClose(out.get(ids[0]!)!, expected[0]![8]!, 'sequence 0 after its chunk');
    assertClose(out.get(ids[2]!)!, expected[2]![4]!, 'sequence 2 after its chunk');
    assert.deepEqual(
      ids.map((id) => batch.length(id)),
      [9, 6, 5],
    );
    const step = await batch.step(new Map(ids.map((id, i) => [id, seqs[i]![batch.length(id)]!])));
    assertClose(step.get(ids[0]!)!, expected[0]![9]!, 'sequence 0 decode');
    assertClose(step.get(ids[1]!)!, expected[1]![6]!, 'sequence 1 decode');
    assertClose(step.get(ids[2]!)!, expected[2]![5]!, 'sequence 2 decode');
  } finally {
    await engine.release();
  }
});
