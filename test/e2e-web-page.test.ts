// The web page at `/` in a real headless browser: Debian's chromium driven by playwright-core
// against the built API and a built worker on the built-in tiny model. It submits a prompt and sees
// the streamed text and the final state, follows a batch, cancels a queued job from the recent-jobs
// list, replays a finished job, and keeps a screenshot in test/artifacts/web-page.png.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { writeModelDir } from '@sambay/engine/model';
import { startApiProcess, type ApiProcess } from './helpers/api-process.js';
import type { JobView } from './helpers/api-types.js';
import { getJson } from './helpers/http.js';
import { connectRedis, deleteKeys, testPrefix } from './helpers/redis.js';
import { startWorkerProcess, type WorkerProcess } from './helpers/worker-process.js';

/** Debian's package installs it here (`.ci/run` installs it when missing); CHROMIUM_PATH overrides. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
/** The README's demo: on the built-in model (seed 0 weights) this prompt and seed run all 200 tokens without EOS. */
const DEMO = { prompt: 'Once upon a time', max_tokens: '200', temperature: '0.8', seed: '8' };
const UI_TIMEOUT_MS = 60_000;

const skip = existsSync(CHROMIUM)
  ? false
  : `no chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;

describe('web page in headless chromium', { skip }, () => {
  const prefix = testPrefix();
  let modelDir: string;
  let api: ApiProcess;
  let worker: WorkerProcess;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    modelDir = await mkdtemp(join(tmpdir(), 'sambay-web-model-'));
    await writeModelDir(modelDir, { preset: 'tiny', seed: 0 });
    const env = { QUEUE_PREFIX: prefix, MODEL_DIR: modelDir };
    [worker, api] = await Promise.all([startWorkerProcess(env), startApiProcess(env)]);
    // Root (CI) needs --no-sandbox; headless is playwright's default.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    await page.goto(api.url);
  });

  after(async () => {
    await browser.close().catch(() => undefined);
    await Promise.all([worker.stop('SIGKILL'), api.stop('SIGKILL')]);
    const redis = connectRedis();
    await deleteKeys(redis, prefix);
    await redis.quit();
    await rm(modelDir, { recursive: true, force: true });
  });

  const row = (id: string) => page.locator(`#recent-body tr[data-job-id="${id}"]`);
  const currentJobId = async () => {
    const id = (await page.locator('#current-job').textContent()) ?? '';
    assert.match(id, /^job_/);
    return id;
  };
  const waitForText = (selector: string, text: string | RegExp) =>
    page.locator(selector).filter({ hasText: text }).waitFor();
  const jobView = async (id: string) => (await getJson<JobView>(`${api.url}/v1/jobs/${id}`)).body;

  let completedId = '';
  let completedText = '';

  test('submitting a prompt streams its text into the page and shows the final state', async () => {
    await page.getByLabel('Prompt', { exact: true }).fill(DEMO.prompt);
    await page.getByLabel('Max tokens').fill(DEMO.max_tokens);
    await page.getByLabel('Temperature').fill(DEMO.temperature);
    await page.getByLabel('Seed').fill(DEMO.seed);
    await page.getByRole('button', { name: 'Generate' }).click();

    // Text arrives over SSE while the job runs, then the `done` event sets the final state.
    await page.waitForFunction("document.getElementById('stream-output').textContent.length > 0");
    await page.locator('#current-status[data-status="completed"]').waitFor();
    completedId = await currentJobId();
    completedText = (await page.locator('#stream-output').textContent()) ?? '';

    const view = await jobView(completedId);
    assert.equal(view.status, 'completed');
    assert.equal(view.usage?.completion_tokens, 200, 'the demo seed runs to max_tokens');
    assert.equal(completedText, view.text, 'the page shows exactly the generated text');
    await waitForText('#current-meta', /completed: length · \d+ prompt \+ 200 generated tokens/);
    await row(completedId).locator('.badge[data-status="completed"]').waitFor();
    assert.equal(await row(completedId).locator('td').nth(4).textContent(), '200 / 200');
  });

  test('a batch submitted from the page is followed to its end', async () => {
    await page.getByRole('button', { name: 'Submit batch' }).click();
    await waitForText('#batch-counts', /^3 of 3 finished/);
    assert.equal(await page.locator('#batch-panel').isVisible(), true);
    const batchId = (await page.locator('#batch-id').textContent()) ?? '';
    assert.match(batchId, /^batch_/);
    assert.equal(await page.locator('#recent-body tr').count(), 4);
  });

  test('a queued job shows its queue position and is cancelled from the recent-jobs list', async () => {
    // With no worker the next job stays queued: first in line.
    assert.equal(await worker.stop('SIGTERM'), 0, worker.output());
    await page.getByLabel('Prompt', { exact: true }).fill('never runs');
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.locator('#current-status[data-status="queued"]').waitFor();
    const id = await currentJobId();
    await row(id).locator('td').nth(3).filter({ hasText: /^0$/ }).waitFor();

    await page.getByRole('button', { name: `Cancel job ${id}` }).click();
    await row(id).locator('.badge[data-status="cancelled"]').waitFor();
    await page.locator('#current-status[data-status="cancelled"]').waitFor();
    assert.equal((await jobView(id)).status, 'cancelled');
    assert.equal(await page.getByRole('button', { name: `Cancel job ${id}` }).isDisabled(), true);
  });

  test('recent jobs survive a reload, and selecting a finished job replays its stream', async () => {
    await page.reload();
    assert.equal(await page.locator('#recent-body tr').count(), 5);
    await page.getByRole('button', { name: `Show job ${completedId}` }).click();
    await page.locator('#current-status[data-status="completed"]').waitFor();
    assert.equal(await page.locator('#stream-output').textContent(), completedText);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'web-page.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
  });
});
