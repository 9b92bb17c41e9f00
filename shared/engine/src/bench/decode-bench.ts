import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseConfig } from '../model/config.js';
import { initWeights } from '../model/init-weights.js';
import { planLayers } from '../model/layer-plan.js';
import type { ModelSpec } from '../model/model-spec.js';
import { presetConfig, transformerLayerTypes } from '../model/presets.js';
import { CompiledModel } from '../runtime/compiled-model.js';
import { syntheticState } from '../state/synthetic-state.js';
import { formatBytes, markdownTable, median } from './report.js';

/**
 * SambaY against a Transformer of the same width and depth, built by the same code: decode latency
 * and per-sequence state at growing context, and prefill throughput.
 *
 * Decoding at context n starts from a synthetic state of n tokens (random cache contents): decode
 * cost does not depend on the values, and prefilling 32K tokens through full attention would
 * take the benchmark's whole budget on a 2-core machine.
 */

interface DecodePoint {
  context: number;
  msPerToken: number;
  stateBytes: number;
}

interface ModelResult {
  name: string;
  prefillTokensPerSecond: number;
  decode: DecodePoint[];
}

function buildSpec(preset: string, layerTypes: 'sambay' | 'transformer'): ModelSpec {
  const raw = presetConfig(preset);
  if (layerTypes === 'transformer') raw.layer_types = transformerLayerTypes(raw.num_hidden_layers as number);
  const config = parseConfig(raw);
  const plan = planLayers(config);
  return { config, plan, weights: initWeights(config, plan, 0) };
}

const randomIds = (n: number, vocab: number) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);

async function timeMs(run: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function measurePrefill(model: CompiledModel, promptTokens: number, repeats: number): Promise<number> {
  const prompt = randomIds(promptTokens, model.spec.config.vocabSize);
  const times: number[] = [];
  for (let r = 0; r < repeats + 1; r++) {
    const batch = model.newBatch();
    const ms = await timeMs(() => batch.prefill([prompt]));
    if (r > 0) times.push(ms); // the first run warms the session up
  }
  return promptTokens / (median(times) / 1000);
}

async function measureDecode(model: CompiledModel, context: number, steps: number): Promise<DecodePoint> {
  const batch = model.newBatch();
  const id = batch.importState(syntheticState(model.spec, context, 1));
  const stateBytes = batch.stateBytes(id);
  const token = new Map([[id, 1]]);
  const times: number[] = [];
  for (let s = 0; s < steps + 2; s++) {
    const ms = await timeMs(() => batch.step(token));
    if (s >= 2) times.push(ms);
  }
  return { context, msPerToken: median(times), stateBytes };
}

async function benchModel(
  name: string,
  spec: ModelSpec,
  contexts: number[],
  steps: number,
  prompt: number,
): Promise<ModelResult> {
  const model = await CompiledModel.create(spec);
  const prefillTokensPerSecond = await measurePrefill(model, prompt, 2);
  const decode: DecodePoint[] = [];
  for (const context of contexts) {
    decode.push(await measureDecode(model, context, steps));
    process.stderr.write(`${name}: context ${context} done\n`);
  }
  await model.release();
  return { name, prefillTokensPerSecond, decode };
}

function report(sambay: ModelResult, transformer: ModelResult, promptTokens: number): string {
  const rows = sambay.decode.map((s, i) => {
    const t = transformer.decode[i]!;
    return [
      String(s.context),
      s.msPerToken.toFixed(2),
      t.msPerToken.toFixed(2),
      `${(t.msPerToken / s.msPerToken).toFixed(2)}x`,
      formatBytes(s.stateBytes),
      formatBytes(t.stateBytes),
      `${(t.stateBytes / s.stateBytes).toFixed(1)}x`,
    ];
  });
  const decodeTable = markdownTable(
    [
      'context',
      'SambaY ms/token',
      'Transformer ms/token',
      'speedup',
      'SambaY state/seq',
      'Transformer state/seq',
      'state ratio',
    ],
    rows,
  );
  const prefillTable = markdownTable(
    ['prefill', 'SambaY tokens/s', 'Transformer tokens/s', 'ratio'],
    [
      [
        `${promptTokens}-token prompt`,
        sambay.prefillTokensPerSecond.toFixed(0),
        transformer.prefillTokensPerSecond.toFixed(0),
        `${(sambay.prefillTokensPerSecond / transformer.prefillTokensPerSecond).toFixed(2)}x`,
      ],
    ],
  );
  return `${decodeTable}\n\n${prefillTable}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'string' },
      preset: { type: 'string', default: 'tiny' },
      contexts: { type: 'string', default: '1024,4096,16384,32768' },
      steps: { type: 'string', default: '16' },
      prompt: { type: 'string', default: '2048' },
    },
  });
  const contexts = values.contexts.split(',').map(Number);
  const steps = Number(values.steps);
  const prompt = Number(values.prompt);
  const sambay = await benchModel('sambay', buildSpec(values.preset, 'sambay'), contexts, steps, prompt);
  const transformer = await benchModel('transformer', buildSpec(values.preset, 'transformer'), contexts, steps, prompt);
  const { config } = buildSpec(values.preset, 'sambay');
  process.stdout.write(
    `# decode benchmark: preset ${values.preset} (d=${config.hiddenSize}, L=${config.numLayers}, H=${config.numHeads}, ` +
      `KV=${config.numKvHeads}, W=${config.slidingWindow}), batch 1, ${prompt}-token prefill, median of ${steps} steps\n\n` +
      report(sambay, transformer, prompt),
  );
  if (values.json) {
    await writeFile(
      values.json,
      `${JSON.stringify({ preset: values.preset, promptTokens: prompt, steps, sambay, transformer }, null, 2)}\n`,
    );
  }
}

await main();
