// /metrics on the built API (its PORT) and worker (METRICS_PORT): a job run through both moves the
// documented series (README "Metrics") by exactly its own numbers, and every line the worker logs
// about a job carries jobId, batchId and workerId (as the API's request lines carry jobId).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { writeModelDir } from '@sambay/engine/model';
import { startApiProcess, type ApiProcess } from './helpers/api-process.js';
import type { BatchAccepted, JobAccepted, JobView } from './helpers/api-types.js';
import { getJson, postJson } from './helpers/http.js';
import { scrape } from './helpers/prometheus-text.js';
import { connectRedis, deleteKeys, testPrefix } from './helpers/redis.js';
import { openSse } from './helpers/sse-client.js';
import { waitFor } from './helpers/wait.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker-process.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** Every series the README documents, by the process that exports it, with its Prometheus type. */
const API_SERIES: Record<string, string> = {
  'sambay:queue_depth': 'gauge',
  'sambay:num_requests_waiting': 'gauge',
  'sambay:jobs_submitted_total': 'counter',
  'sambay:jobs_cancelled_total': 'counter',
  'sambay:sse_clients_connected': 'gauge',
};
const WORKER_SERIES: Record<string, string> = {
  'sambay:num_requests_running': 'gauge',
  'sambay:batch_size': 'gauge',
  'sambay:engine_requests_waiting': 'gauge',
  'sambay:worker_active_jobs': 'gauge',
  'sambay:state_bytes': 'gauge',
  'sambay:state_reserved_bytes': 'gauge',
  'sambay:state_budget_bytes': 'gauge',
  'sambay:state_allocated_bytes': 'gauge',
  'sambay:prompt_tokens_total': 'counter',
  'sambay:generation_tokens_total': 'counter',
  'sambay:time_to_first_token_seconds': 'histogram',
  'sambay:inter_token_latency_seconds': 'histogram',
  'sambay:e2e_request_latency_seconds': 'histogram',
  'sambay:request_queue_time_seconds': 'histogram',
  'sambay:jobs_completed_total': 'counter',
  'sambay:jobs_cancelled_total': 'counter',
  'sambay:jobs_failed_total': 'counter',
  'sambay:request_success_total': 'counter',
  'sambay:job_resumes_total': 'counter',
  'sambay:engine_step_duration_seconds': 'histogram',
};
/** Series prom-client exports with no sample until a label value is used. */
const LABELLED_ONLY = new Set(['sambay:request_success_total', 'sambay:engine_step_duration_seconds']);

/** The name of the series' samples (a histogram's count stands for it). */
const sampleName = (name: string, type: string) => (type === 'histogram' ? `${name}_count` : name);

function metricsPort(output: string): number | null {
  for (const line of output.split('\n')) {
    if (!line.includes('"msg":"metrics server listening"')) continue;
    const port = (JSON.parse(line) as { port?: number }).port;
    if (typeof port === 'number') return port;
  }
  return null;
}

const logLines = (output: string) =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('metrics and job log fields of the API and a worker', () => {
  const prefix = testPrefix();
  const common: Record<string, string> = { QUEUE_PREFIX: prefix };
  const CHUNK = 4;
  let dir = '';
  let redis: Redis;
  let api: ApiProcess;
  let worker: WorkerProcess | undefined;
  let workerMetrics = '';

  before(async () => {
    redis = connectRedis();
    dir = await mkdtemp(join(tmpdir(), 'sambay-metrics-'));
    common.MODEL_DIR = join(dir, 'model');
    await writeModelDir(common.MODEL_DIR, { preset: 'tiny', seed: 0 });
    api = await startApiProcess(common);
  });
  after(async () => {
    await worker?.stop('SIGKILL');
    const code = await api.stop();
    await deleteKeys(redis, prefix);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
    assert.equal(code, 0, api.output());
  });

  test('every documented series is in the README and exported with its type', async () => {
    const readme = await readFile(README, 'utf8');
    for (const name of [...Object.keys(API_SERIES), ...Object.keys(WORKER_SERIES)])
      assert.ok(readme.includes(`\`${name}\``), `README documents ${name}`);
    const scraped = await scrape(`${api.url}/metrics`);
    for (const [name, type] of Object.entries(API_SERIES)) {
      assert.equal(scraped.types.get(name), type, `API: ${name} is a ${type}`);
      assert.ok(scraped.has(sampleName(name, type)), `API: a ${name} sample`);
    }
    assert.ok(scraped.has('process_resident_memory_bytes'), "the process' own metrics");
    assert.equal(scraped.has('sambay:num_requests_running'), false, 'running sequences come from workers only');
  });

  test('a job moves queue depth, SSE clients and the token counters by its own numbers', async () => {
    const base = { max_tokens: 8, ignore_eos: true, temperature: 0.8, seed: 3 };
    const submitted = await postJson<JobAccepted>(`${api.url}/v1/jobs`, { prompt: 'the cat sat', ...base });
    assert.equal(submitted.status, 202);
    const id = submitted.body.id;
    const other = await postJson<JobAccepted>(`${api.url}/v1/jobs`, { prompt: 'cancel me', ...base });
    assert.equal((await postJson(`${api.url}/v1/jobs/${other.body.id}/cancel`, {})).status, 202);

    // No worker yet: the job waits (prioritized, as every job), followed by one SSE client.
    const events = await openSse(`${api.url}/v1/jobs/${id}/events`, { timeoutMs: 60_000 });
    const queued = await waitFor('the SSE client to be counted', async () => {
      const s = await scrape(`${api.url}/metrics`);
      return s.value('sambay:sse_clients_connected') === 1 && s;
    });
    for (const state of ['waiting', 'prioritized', 'active', 'delayed', 'failed'])
      assert.notEqual(queued.value('sambay:queue_depth', { state }), undefined, `queue_depth{state="${state}"}`);
    assert.equal(queued.value('sambay:queue_depth', { state: 'prioritized' }), 1);
    assert.equal(queued.value('sambay:num_requests_waiting'), 1);
    assert.equal(queued.value('sambay:jobs_submitted_total'), 2);
    assert.equal(queued.value('sambay:jobs_cancelled_total'), 1);

    // Prefill chunks of 4 tokens: the prompt's model calls below show the setting reached the engine.
    worker = await startWorkerProcess({ ...common, METRICS_PORT: '0', WORKER_PREFILL_CHUNK_TOKENS: String(CHUNK) });
    const port = await waitFor('the metrics port in the worker log', () => metricsPort(worker!.output()));
    // Its ready line says the ORT threads it chose: for the tiny model, every core but one.
    const readyLine = worker
      .output()
      .split('\n')
      .find((line) => line.includes('"msg":"worker ready"'))!;
    const expectedThreads = Number(process.env.WORKER_INTRA_OP_THREADS ?? Math.max(1, availableParallelism() - 1));
    assert.equal((JSON.parse(readyLine) as { intraOpThreads: number }).intraOpThreads, expectedThreads);
    workerMetrics = `http://127.0.0.1:${port}/metrics`;
    const streamed = await events.readToEnd();
    events.close();
    assert.equal(streamed.at(-1)?.event, 'done', JSON.stringify(streamed));
    const view = await getJson<JobView>(`${api.url}/v1/jobs/${id}`);
    assert.equal(view.body.status, 'completed');
    const usage = view.body.usage!;
    assert.equal(usage.completion_tokens, 8);

    const w = await scrape(workerMetrics);
    for (const [name, type] of Object.entries(WORKER_SERIES)) {
      assert.equal(w.types.get(name), type, `worker: ${name} is a ${type}`);
      if (!LABELLED_ONLY.has(name)) assert.ok(w.has(sampleName(name, type)), `worker: a ${name} sample`);
    }
    assert.equal(w.value('sambay:prompt_tokens_total'), usage.prompt_tokens);
    assert.equal(w.value('sambay:generation_tokens_total'), usage.completion_tokens);
    assert.equal(w.value('sambay:time_to_first_token_seconds_count'), 1);
    assert.ok(w.value('sambay:time_to_first_token_seconds_sum')! > 0);
    assert.equal(w.value('sambay:e2e_request_latency_seconds_count'), 1);
    assert.equal(w.value('sambay:request_queue_time_seconds_count'), 1);
    // Every token after the first message's is timed against the one before it.
    const gaps = w.value('sambay:inter_token_latency_seconds_count')!;
    assert.ok(gaps >= 1 && gaps <= usage.completion_tokens - 1, `inter-token samples: ${gaps}`);
    assert.equal(w.value('sambay:jobs_completed_total'), 1);
    assert.equal(w.value('sambay:request_success_total', { finished_reason: 'length' }), 1);
    assert.equal(w.value('sambay:jobs_failed_total'), 0);
    assert.equal(w.value('sambay:job_resumes_total'), 0);
    // The engine thread reports its model calls with its stats, up to 100 ms after the last one.
    const steps = await waitFor('the engine step timings', async () => {
      const s = await scrape(workerMetrics);
      const decode = s.value('sambay:engine_step_duration_seconds_count', { kind: 'decode' }) ?? 0;
      return decode >= usage.completion_tokens - 1 ? s : null;
    });
    const prefills = steps.value('sambay:engine_step_duration_seconds_count', { kind: 'prefill' });
    assert.equal(prefills, Math.ceil(usage.prompt_tokens / CHUNK), `prefill calls for ${usage.prompt_tokens} tokens`);
    assert.ok(steps.value('sambay:engine_step_duration_seconds_sum', { kind: 'decode' })! > 0);
    // The engine thread's stats reached the main thread: the decode batch has buffers, a budget.
    const stats = await waitFor('engine stats', async () => {
      const s = await scrape(workerMetrics);
      return s.value('sambay:state_allocated_bytes')! > 0 && s;
    });
    assert.ok(stats.value('sambay:state_budget_bytes')! > 0);
    assert.equal(stats.value('sambay:num_requests_running'), 0);
    assert.ok(stats.has('process_resident_memory_bytes'));

    const done = await waitFor('the SSE client to be gone and the queue empty', async () => {
      const s = await scrape(`${api.url}/metrics`);
      return s.value('sambay:sse_clients_connected') === 0 && s.value('sambay:queue_depth', { state: 'active' }) === 0
        ? s
        : null;
    });
    assert.equal(done.value('sambay:num_requests_waiting'), 0);
  });

  test('worker lines about a job carry jobId, batchId and workerId; API lines carry jobId', async () => {
    assert.ok(worker, 'the worker of the previous test');
    const long = { max_tokens: 20_000, ignore_eos: true, seed: 5 };
    const batch = await postJson<BatchAccepted>(`${api.url}/v1/jobs`, {
      jobs: [
        { prompt: 'a', ...long },
        { prompt: 'b', ...long },
      ],
    });
    assert.equal(batch.status, 202);
    const ids = batch.body.jobs.map((j) => j.id);
    await waitFor('both jobs to run', async () => {
      const views = await Promise.all(ids.map((id) => getJson<JobView>(`${api.url}/v1/jobs/${id}`)));
      return views.every((v) => v.body.status === 'running');
    });
    for (const id of ids) assert.equal((await postJson(`${api.url}/v1/jobs/${id}/cancel`, {})).status, 202);
    const w = worker;
    const cancelled = await waitFor('the worker to log both cancels', () => {
      const lines = logLines(w.output()).filter((l) => l.msg === 'cancelling job');
      return lines.length === 2 && lines;
    });
    for (const line of cancelled) {
      assert.ok(ids.includes(line.jobId as string), JSON.stringify(line));
      assert.equal(line.batchId, batch.body.batch_id);
      assert.equal(typeof line.workerId, 'string');
    }
    // The worker's every line names the process; every API line about a job's path names the job.
    assert.ok(logLines(w.output()).every((l) => typeof l.workerId === 'string'));
    const requests = logLines(api.output()).filter((l) => l.msg === 'request' && String(l.url).startsWith('/v1/jobs/'));
    assert.ok(requests.length > 0);
    for (const line of requests) assert.ok(String(line.url).includes(String(line.jobId)), JSON.stringify(line));
    const batchView = await getJson(`${api.url}/v1/batches/${batch.body.batch_id}`);
    assert.equal(batchView.status, 200);
    await waitFor('the batch request line', () =>
      logLines(api.output()).some((l) => l.msg === 'request' && l.batchId === batch.body.batch_id),
    );
  });
});
