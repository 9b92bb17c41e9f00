import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompiledModel, stateBlocks, StateConfigMismatchError, StateFormatError, stateLayout } from '@sambay/engine';
import { tinySpec } from './helpers/models.js';

/** Exported state continues decoding exactly; its size is constant except for the full K/V. */

const overrides = {
  num_hidden_layers: 8,
  hidden_size: 32,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  sliding_window: 3,
};
/** Token ids valid for any vocabulary of at least 16 tokens. */
const ids = Array.from({ length: 16 }, (_, i) => (i * 13 + 2) % 16);

async function continueFrom(engine: CompiledModel, state: Uint8Array, rest: number[]): Promise<Float32Array[]> {
  const batch = engine.newBatch();
  const id = batch.importState(state);
  const out: Float32Array[] = [];
  for (const t of rest) out.push((await batch.step(new Map([[id, t]]))).get(id)!.slice());
  return out;
}

test('export -> import (same engine, fresh engine, busy batch) -> continue equals never stopping', async () => {
  const spec = tinySpec(overrides, 11);
  const engine = await CompiledModel.create(spec, { intraOpThreads: 1 });
  const fresh = await CompiledModel.create(tinySpec(overrides, 11), { intraOpThreads: 1 });
  try {
    const batch = engine.newBatch();
    const { id } = (await batch.prefill([ids.slice(0, 5)]))[0]!;
    for (const t of ids.slice(5, 9)) await batch.step(new Map([[id, t]]));
    const state = batch.exportState(id);
    const rest = ids.slice(9);
    const uninterrupted: Float32Array[] = [];
    for (const t of rest) uninterrupted.push((await batch.step(new Map([[id, t]]))).get(id)!.slice());

    assert.deepEqual(await continueFrom(engine, state, rest), uninterrupted);
    assert.deepEqual(await continueFrom(fresh, state, rest), uninterrupted);

    // Imported next to another sequence: a different slot and batch size, same numbers (to rounding).
    const shared = engine.newBatch();
    const [other] = await shared.prefill([[7, 8, 9]]);
    const moved = shared.importState(state);
    assert.equal(shared.length(moved), 9);
    for (const [j, t] of rest.entries()) {
      const got = (
        await shared.step(
          new Map([
            [other!.id, 1],
            [moved, t],
          ]),
        )
      ).get(moved)!;
      const expected = uninterrupted[j]!;
      const worst = Math.max(...got.map((v, i) => Math.abs(v - expected[i]!)));
      const scale = Math.max(1, ...expected.map(Math.abs));
      assert.ok(worst <= 1e-5 * scale, `step ${j}: max abs diff ${worst} at logit scale ${scale}`);
    }
  } finally {
    await engine.release();
    await fresh.release();
  }
});

test('state bytes: Mamba and sliding parts constant, full K/V one row per token', async () => {
  const spec = tinySpec(overrides, 2);
  const { numKvHeads, headDim } = spec.config;
  const row = 2 * numKvHeads * headDim * 4; // key + value, f32
  const layout = stateLayout(spec);
  const constant = (n: number) =>
    stateBlocks(layout, n).filter((b) => !(layout.find((s) => s.layer === b.layer)!.kind === 'full'));
  assert.deepEqual(constant(1), constant(500));

  const engine = await CompiledModel.create(spec, { intraOpThreads: 1 });
  try {
    const batch = engine.newBatch();
    const { id } = (await batch.prefill([ids.slice(0, 2)]))[0]!;
    let previous = batch.stateBytes(id);
    const constantBytes = previous - 2 * row;
    assert.ok(constantBytes > 0);
    for (const t of ids.slice(2, 10)) {
      await batch.step(new Map([[id, t]]));
      const now = batch.stateBytes(id);
      assert.equal(now - previous, row, 'one K/V row per token');
      assert.equal(now, constantBytes + batch.length(id) * row);
      previous = now;
      const exported = batch.exportState(id);
      assert.ok(exported.length >= now && exported.length < now + 2048, 'export = state bytes + a small header');
    }
  } finally {
    await engine.release();
  }
});

test('importing a state from a different config, or bytes that are no state, is rejected', async () => {
  const a = await CompiledModel.create(tinySpec(overrides, 1), { intraOpThreads: 1 });
  const b = await CompiledModel.create(tinySpec({ ...overrides, sliding_window: 4 }, 1), { intraOpThreads: 1 });
  try {
    const batch = a.newBatch();
    const { id } = (await batch.prefill([[1, 2, 3]]))[0]!;
    const state = batch.exportState(id);
    const other = b.newBatch();
    assert.throws(() => other.importState(state), StateConfigMismatchError);
    assert.equal(other.size, 0);
    assert.throws(
      () => other.importState(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])),
      StateFormatError,
    );
    assert.throws(() => batch.importState(state.subarray(0, state.length - 4)), StateFormatError);
    // A state of the format before the Mamba layout changed (version 1, [Di, d_conv] / [Di, N]) is refused,
    // so a resumed job recomputes its context rather than reading the blocks transposed.
    const v1 = Buffer.from(state);
    const header = v1.indexOf('"version":2');
    assert.ok(header > 0);
    v1.write('"version":1', header);
    assert.throws(() => batch.importState(v1), { name: 'StateFormatError', message: /version 1 is not supported/ });
  } finally {
    await a.release();
    await b.release();
  }
});
