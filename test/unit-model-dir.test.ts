import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  CheckpointError,
  checkpointLayout,
  ConfigError,
  loadModelDir,
  ModelDirError,
  parseConfig,
  planLayers,
  presetConfig,
  readSafetensors,
  writeModelDir,
  writeSafetensors,
} from '@sambay/engine/model';

let root: string;
let valid: string; // a written tiny model every broken variant starts from
let weights: Awaited<ReturnType<typeof readSafetensors>>;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'sambay-model-dir-'));
  valid = join(root, 'valid');
  await writeModelDir(valid, { seed: 7 });
  weights = readSafetensors(join(valid, 'model.safetensors'));
});
after(() => rm(root, { recursive: true, force: true }));

let n = 0;
/** A copy of the valid directory with its config and/or tensors changed. */
async function variant(change: {
  config?: (c: Record<string, unknown>) => unknown;
  tensors?: (w: typeof weights) => void;
  configText?: string;
}) {
  const dir = join(root, `v${n++}`);
  const config = JSON.parse(await readFile(join(valid, 'config.json'), 'utf8')) as Record<string, unknown>;
  const w = new Map(weights);
  change.tensors?.(w);
  await mkdir(dir);
  await writeFile(join(dir, 'config.json'), change.configText ?? JSON.stringify(change.config?.(config) ?? config));
  writeSafetensors(join(dir, 'model.safetensors'), w);
  return dir;
}

const rejects = (dir: Promise<string>, type: new (...args: never[]) => Error, message: RegExp) =>
  assert.rejects(
    async () => loadModelDir(await dir),
    (e: Error) => e instanceof type && message.test(e.message),
  );

test('a written model directory loads back with identical weights', async () => {
  const model = await loadModelDir(valid);
  assert.equal(model.config.hiddenSize, 128);
  assert.equal(model.tokenizerPath, null);
  for (const [name, t] of weights) assert.deepEqual(model.weights.get(name)!.data, t.data, name);
});

test('tokenizer.json, when present, is reported as the tokenizer path', async () => {
  const dir = await variant({});
  await writeFile(join(dir, 'tokenizer.json'), '{}');
  assert.equal((await loadModelDir(dir)).tokenizerPath, join(dir, 'tokenizer.json'));
});

test('the writer is deterministic: same seed, same bytes; another seed, other bytes', async () => {
  await writeModelDir(join(root, 'again'), { seed: 7 });
  await writeModelDir(join(root, 'other'), { seed: 8 });
  const bytes = (d: string) => readFile(join(d, 'model.safetensors'));
  assert.deepEqual(await bytes(join(root, 'again')), await bytes(valid));
  assert.notDeepEqual(await bytes(join(root, 'other')), await bytes(valid));
});

test('missing or unreadable files are named', async () => {
  await rejects(Promise.resolve(join(root, 'nowhere')), ModelDirError, /config\.json is missing/);
  await rejects(variant({ configText: '{"hidden_size": 12,' }), ModelDirError, /config\.json is not valid JSON/);
  const noWeights = await variant({});
  await rm(join(noWeights, 'model.safetensors'));
  await rejects(Promise.resolve(noWeights), ModelDirError, /no model\.safetensors/);
});

test('config errors name the field', async () => {
  const cases: [(c: Record<string, unknown>) => unknown, RegExp][] = [
    [(c) => ({ ...c, hidden_size: undefined }), /`hidden_size` is missing/],
    [(c) => ({ ...c, num_hidden_layers: 6 }), /`num_hidden_layers` must be divisible by 4/],
    [(c) => ({ ...c, num_attention_heads: 6 }), /`hidden_size` \(128\) must be divisible by num_attention_heads \(6\)/],
    [(c) => ({ ...c, num_attention_heads: 2, num_key_value_heads: 1 }), /`num_key_value_heads` must be even/],
    [(c) => ({ ...c, vocab_size: 'big' }), /`vocab_size` must be an integer/],
    [(c) => ({ ...c, model_type: 'llama' }), /`model_type` must be "phi4flash"/],
    [(c) => ({ ...c, layer_types: ['mamba'] }), /`layer_types` must be a list of 8/],
    [(c) => ({ ...c, layer_types: [...Array<string>(7).fill('mamba'), 'moe'] }), /`layer_types\[7\]` must be one of/],
    [(c) => ({ ...c, layer_types: ['gmu', ...Array<string>(7).fill('mamba')] }), /`layer_types\[0\]` is gmu/],
  ];
  for (const [change, message] of cases) await rejects(variant({ config: change }), ConfigError, message);
});

test('checkpoint errors name the tensor: missing, unexpected, wrong shape', async () => {
  const conv = 'model.layers.0.attn.conv1d.weight';
  await rejects(
    variant({ tensors: (w) => w.delete(conv) }),
    CheckpointError,
    /missing tensor `model\.layers\.0\.attn\.conv1d\.weight`/,
  );
  await rejects(
    variant({ tensors: (w) => w.set('model.layers.3.attn.extra.weight', { shape: [1], data: new Float32Array(1) }) }),
    CheckpointError,
    /unexpected tensor `model\.layers\.3\.attn\.extra\.weight`/,
  );
  await rejects(
    variant({ tensors: (w) => w.set(conv, { shape: [256, 1, 3], data: new Float32Array(768) }) }),
    CheckpointError,
    /`model\.layers\.0\.attn\.conv1d\.weight` has shape \[256, 1, 3\], expected \[256, 1, 4\]/,
  );
});

test('unsupported dtypes and truncated files are reported', async () => {
  const dir = await variant({});
  const file = join(dir, 'model.safetensors');
  const bytes = await readFile(file);
  await writeFile(file, bytes.subarray(0, bytes.length - 100));
  await rejects(Promise.resolve(dir), CheckpointError, /truncated/);
  const header = JSON.stringify({ x: { dtype: 'I8', shape: [1], data_offsets: [0, 1] } });
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  await writeFile(file, Buffer.concat([length, Buffer.from(header), Buffer.alloc(1)]));
  await rejects(Promise.resolve(dir), CheckpointError, /`x` has dtype I8/);
  await writeFile(file, Buffer.alloc(5));
  await rejects(Promise.resolve(dir), CheckpointError, /not a safetensors file \(5 bytes/);
});

test('a corrupt safetensors header is a format error, not a crash', async () => {
  const dir = await variant({});
  const file = join(dir, 'model.safetensors');
  const withHeader = (json: string) => {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    return Buffer.concat([length, Buffer.from(json), Buffer.alloc(16)]);
  };
  const cases: [string, RegExp][] = [
    ['{"x": ', /header is not valid JSON/],
    ['[1, 2]', /header is not a JSON object/],
    ['{"x": null}', /tensor `x` needs dtype, shape and data_offsets/],
    ['{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}', /tensor `x` needs dtype, shape and data_offsets/],
    ['{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 12]}}', /`x` has data offsets \[0, 12\]/],
    ['{"x": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}', /`x` has data offsets \[0, 32\].*truncated/],
  ];
  for (const [json, message] of cases) {
    await writeFile(file, withHeader(json));
    await rejects(Promise.resolve(dir), CheckpointError, message);
  }
});

test('tensor names are byte-counted: a non-ASCII name round-trips', async () => {
  const file = join(root, 'unicode.safetensors');
  const t = { shape: [3], data: Float32Array.from([1, -2, 0.5]) };
  writeSafetensors(file, new Map([['poids.é', t]]));
  const back = readSafetensors(file);
  assert.deepEqual(back.get('poids.é'), t);
  const headerLength = Number((await readFile(file)).readBigUInt64LE(0));
  assert.equal(headerLength % 8, 0, 'tensor data stays 8-byte aligned');
});

/** Re-encodes an f32 checkpoint's tensors as 16-bit values (bf16: top half; f16: IEEE half). */
async function write16(file: string, dtype: 'F16' | 'BF16') {
  const header: Record<string, unknown> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of weights) {
    const out = Buffer.alloc(t.data.length * 2);
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    t.data.forEach((v, i) => {
      f[0] = v;
      const half = dtype === 'BF16' ? u[0]! >>> 16 : toHalf(v);
      out.writeUInt16LE(half, i * 2);
    });
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + out.length] };
    offset += out.length;
    chunks.push(out);
  }
  const json = JSON.stringify(header);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  await writeFile(file, Buffer.concat([length, Buffer.from(json), ...chunks]));
}

function toHalf(v: number): number {
  const sign = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  let e = Math.floor(Math.log2(a));
  let m = Math.round((a / 2 ** e - 1) * 1024);
  if (m === 1024) [e, m] = [e + 1, 0]; // rounding carried into the exponent
  return sign | ((e + 15) << 10) | m;
}

test('f16 and bf16 checkpoints load to f32 within their rounding', async () => {
  for (const [dtype, tolerance] of [
    ['F16', 2 ** -10],
    ['BF16', 2 ** -7],
  ] as const) {
    const dir = await variant({});
    await write16(join(dir, 'model.safetensors'), dtype);
    const model = await loadModelDir(dir);
    for (const [name, t] of weights) {
      const got = model.weights.get(name)!.data;
      t.data.forEach((v, i) => {
        assert.ok(
          Math.abs(got[i]! - v) <= tolerance * Math.max(Math.abs(v), 2 ** -14) * 1.01,
          `${dtype} ${name}[${i}]: ${got[i]} vs ${v}`,
        );
      });
    }
  }
});

test('a sharded checkpoint (model.safetensors.index.json) loads', async () => {
  const dir = await variant({});
  await rm(join(dir, 'model.safetensors'));
  const names = [...weights.keys()];
  const shards = [names.slice(0, 10), names.slice(10)];
  const weightMap: Record<string, string> = {};
  for (const [i, shard] of shards.entries()) {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(join(dir, file), new Map(shard.map((name) => [name, weights.get(name)!])));
    for (const name of shard) weightMap[name] = file;
  }
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const model = await loadModelDir(dir);
  assert.equal(model.weights.size, weights.size);
  for (const [name, t] of weights) assert.deepEqual(model.weights.get(name)!.data, t.data, name);
  await rm(join(dir, 'model-00002-of-00002.safetensors'));
  await rejects(Promise.resolve(dir), ModelDirError, /shard model-00002-of-00002\.safetensors is missing/);
});

test('critic_head tensors and a tied lm_head are accepted and ignored', async () => {
  const dir = await variant({
    tensors: (w) => {
      w.set('critic_head.weight', { shape: [1, 128], data: new Float32Array(128) });
      w.set('lm_head.weight', w.get('model.embed_tokens.weight')!);
    },
  });
  const model = await loadModelDir(dir);
  assert.equal(model.weights.has('critic_head.weight'), false);
});

test('presets: unknown names list the valid ones', () => {
  assert.throws(() => presetConfig('huge'), /unknown preset "huge"; choose one of tiny, small/);
});

test('the published Phi-4-mini-flash config.json: every field read or knowingly ignored, its exact shapes', () => {
  const raw = presetConfig('phi4-mini-flash');
  const config = parseConfig(raw);
  assert.deepEqual(config.unknownFields, []);
  assert.equal(config.headDim, 64);
  assert.equal(config.mamba.dtRank, 160);
  assert.equal(config.mamba.dInner, 5120);
  const plan = planLayers(config);
  assert.equal(plan.kvSourceLayer, 17);
  assert.equal(plan.memoryLayer, 16);
  const params = [...checkpointLayout(config, plan).values()].reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);
  assert.ok(Math.abs(params / 1e9 - 3.85) < 0.05, `${(params / 1e9).toFixed(2)} B parameters`);
  assert.deepEqual(parseConfig({ ...raw, rope_scaling: null }).unknownFields, ['rope_scaling']);
});

test('a second full-attention layer beside a cross-decoder is a named config error', () => {
  const raw = { ...presetConfig('tiny') };
  raw.layer_types = [
    'mamba',
    'full_attention',
    'mamba',
    'full_attention',
    'gmu',
    'cross_attention',
    'gmu',
    'cross_attention',
  ];
  assert.throws(() => planLayers(parseConfig(raw)), {
    name: 'ConfigError',
    field: 'layer_types[1]',
    message: /second full-attention layer; with a cross-decoder, only layer 3/,
  });
});

test('the writer streams bf16 shards with an index, which load back as the bf16-rounded weights', async () => {
  const dir = join(root, 'bf16-shards');
  await writeModelDir(dir, { seed: 7, dtype: 'BF16', shardBytes: 256 * 1024 });
  const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8')) as {
    weight_map: Record<string, string>;
  };
  const shards = new Set(Object.values(index.weight_map));
  assert.ok(shards.size >= 2, `${shards.size} shards`);
  assert.ok([...shards].every((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)));
  const model = await loadModelDir(dir);
  for (const [name, t] of weights) {
    const got = model.weights.get(name)!.data;
    t.data.forEach((v, i) => {
      assert.ok(Math.abs(got[i]! - v) <= 2 ** -8 * Math.abs(v) * 1.01, `${name}[${i}]: ${got[i]} vs ${v}`);
    });
  }
  assert.deepEqual(JSON.parse(await readFile(join(dir, 'generation_config.json'), 'utf8')), {
    bos_token_id: 256,
    eos_token_id: 257,
  });
});

test("generation_config.json's EOS ids are added to config.json's; a bad one is named", async () => {
  const dir = await variant({});
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [257, 200], bos_token_id: 256 }));
  assert.deepEqual((await loadModelDir(dir)).config.eosTokenIds, [257, 200]);
  await writeFile(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: 'end' }));
  await rejects(Promise.resolve(dir), ModelDirError, /generation_config\.json: `eos_token_id`/);
});
