import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ByteTokenizer } from '@sambay/tokenizer';
import type { GenerationRequest, ResumeState } from '../generation/generation-request.js';
import { Scheduler } from '../generation/scheduler.js';
import { parseConfig } from '../model/config.js';
import { initWeights } from '../model/init-weights.js';
import { planLayers } from '../model/layer-plan.js';
import type { ModelSpec } from '../model/model-spec.js';
import { presetConfig } from '../model/presets.js';
import { CompiledModel } from '../runtime/compiled-model.js';
import { stateByteSize, stateLayout } from '../state/state-layout.js';
import { syntheticState } from '../state/synthetic-state.js';
import { formatBytes, markdownTable, median } from './report.js';

/**
 * What a state checkpoint saves when a job resumes after its worker died: the time from submitting
 * the resumed request (prompt + N tokens the earlier attempt streamed) to its first new token, on
 * the scheduler in this process, (a) from the prompt and (b) from a checkpoint `behind` tokens before
 * the end (imported); either way the tokens after that point are fed by decode steps while that takes
 * at most `--max-replay-ms` (the scheduler's `maxReplayMs`), else by chunked prefill, as the worker does.
 * Every resumed token is replayed through the detokenizer and stop check in both. The time to notice the
 * death and re-queue the job (JOB_LOCK_MS + STALLED_CHECK_MS) and to read the stream and checkpoint
 * from Redis come on top, the same for both. The checkpoint is a synthetic state of the right length
 * (decode cost does not depend on its values), so no 32K-token generation is needed to get one.
 */

interface ResumeResult {
  generated: number;
  behind: number;
  recompute_ms: number;
  checkpoint_ms: number;
  speedup: number;
  checkpoint_bytes: number;
}

const USAGE = `node shared/engine/dist/bench/resume-bench.js [--preset tiny] [--generated 2048,16384,32768]
  [--behind 1,1024] [--max-replay-ms 10000] [--repeats 3] [--recompute-repeats 1] [--threads 0] [--json FILE]
--behind: how many tokens before the end the checkpoint is (the worker's worst case is CHECKPOINT_EVERY_TOKENS).
--max-replay-ms: how long a resume may replay tokens after its checkpoint by decode steps (exact) before it prefills the rest (RESUME_REPLAY_MAX_MS).
--threads 0: onnxruntime's default (every core), as the worker runs.`;

function buildSpec(preset: string): ModelSpec {
  const config = parseConfig(presetConfig(preset));
  const plan = planLayers(config);
  return { config, plan, weights: initWeights(config, plan, 0) };
}

/** Byte tokens (the tiny presets' tokenizer), no EOS: what a long generation streamed. */
const streamed = (n: number) => Array.from({ length: n }, (_, i) => 32 + ((i * 7919 + 13) % 95));

/** Milliseconds from submit to the resumed request's first new token. */
async function timeToNextToken(model: CompiledModel, request: GenerationRequest, maxReplayMs: number): Promise<number> {
  // Set by the event handler (an object, so the checks below are not narrowed to the initial values).
  const seen: { firstAt?: bigint; failure?: string; checkpointError?: string } = {};
  const scheduler: Scheduler = new Scheduler(model, new ByteTokenizer(), {
    maxReplayMs,
    onEvent: (event) => {
      if (event.type === 'started' && event.checkpointError !== undefined) seen.checkpointError = event.checkpointError;
      if (event.type === 'failed') seen.failure = event.message;
      if (event.type === 'tokens' && event.tokenIds.length > 0 && seen.firstAt === undefined) {
        seen.firstAt = process.hrtime.bigint();
        scheduler.cancel(request.id);
      }
    },
  });
  const start = process.hrtime.bigint();
  scheduler.submit(request);
  await scheduler.close();
  if (seen.failure !== undefined) throw new Error(`resumed request failed: ${seen.failure}`);
  if (seen.checkpointError !== undefined) throw new Error(`checkpoint not used: ${seen.checkpointError}`);
  if (seen.firstAt === undefined) throw new Error('no token');
  return Number(seen.firstAt - start) / 1e6;
}

async function measure(values: Record<string, string>): Promise<{ results: ResumeResult[]; prompt: number }> {
  const spec = buildSpec(values.preset!);
  const threads = Number(values.threads);
  const maxReplay = Number(values['max-replay-ms']);
  const model = await CompiledModel.create(spec, threads > 0 ? { intraOpThreads: threads } : {});
  const prompt = 'Resume benchmark: the tokens below were streamed by an attempt whose worker died.\n';
  const promptTokens = new ByteTokenizer().encode(prompt).length;
  const layout = stateLayout(spec);
  const results: ResumeResult[] = [];
  try {
    // Warm the sessions up (first runs allocate).
    await timeToNextToken(model, request(prompt, streamed(300)), maxReplay);
    for (const generated of values.generated!.split(',').map(Number)) {
      const resumeTokens = streamed(generated);
      const recompute: number[] = [];
      for (let r = 0; r < Number(values['recompute-repeats']); r++)
        recompute.push(await timeToNextToken(model, request(prompt, resumeTokens), maxReplay));
      for (const behind of values.behind!.split(',').map(Number)) {
        const tokens = generated - behind;
        const resumeState: ResumeState = { state: syntheticState(spec, promptTokens + tokens, 1), tokens };
        const times: number[] = [];
        for (let r = 0; r < Number(values.repeats); r++)
          times.push(await timeToNextToken(model, request(prompt, resumeTokens, resumeState), maxReplay));
        const result: ResumeResult = {
          generated,
          behind,
          recompute_ms: median(recompute),
          checkpoint_ms: median(times),
          speedup: median(recompute) / median(times),
          checkpoint_bytes: stateByteSize(layout, promptTokens + tokens),
        };
        process.stderr.write(`${JSON.stringify(result)}\n`);
        results.push(result);
      }
    }
  } finally {
    await model.release();
  }
  return { results, prompt: promptTokens };
}

function request(prompt: string, resumeTokens: number[], resumeState?: ResumeState): GenerationRequest {
  return {
    id: 'resumed',
    prompt,
    maxTokens: resumeTokens.length + 16,
    stop: [],
    ignoreEos: true,
    sampling: { temperature: 0.8, topK: 0, topP: 1, seed: 1 },
    resumeTokens,
    // A fresh copy each run: an imported state's buffer may be transferred or reused.
    ...(resumeState ? { resumeState: { state: resumeState.state.slice(), tokens: resumeState.tokens } } : {}),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'string' },
      preset: { type: 'string', default: 'tiny' },
      generated: { type: 'string', default: '2048,16384,32768' },
      behind: { type: 'string', default: '1,1024' },
      'max-replay-ms': { type: 'string', default: '10000' },
      repeats: { type: 'string', default: '3' },
      'recompute-repeats': { type: 'string', default: '1' },
      threads: { type: 'string', default: '0' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const { json, help: _help, ...options } = values;
  const { results, prompt } = await measure(options);
  const rows = results.map((r) => [
    String(r.generated),
    String(r.behind),
    r.recompute_ms.toFixed(0),
    r.checkpoint_ms.toFixed(1),
    `${r.speedup.toFixed(0)}x`,
    formatBytes(r.checkpoint_bytes),
  ]);
  process.stdout.write(
    `# resume benchmark: preset ${values.preset}, ${prompt}-token prompt, tokens after a checkpoint replayed by decode steps for up to ${values['max-replay-ms']} ms, time from submitting the resumed request ` +
      `to its first new token (recompute: median of ${values['recompute-repeats']}, checkpoint: median of ${values.repeats})\n\n` +
      markdownTable(
        ['generated tokens', 'checkpoint behind', 'recompute ms', 'checkpoint ms', 'speedup', 'checkpoint size'],
        rows,
      ) +
      '\n',
  );
  if (json)
    await writeFile(json, `${JSON.stringify({ preset: values.preset, prompt_tokens: prompt, results }, null, 2)}\n`);
}

await main();
