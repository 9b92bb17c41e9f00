// The page: submit a job or a batch, follow a job's stream, keep recent jobs up to date, cancel.
import { cancelJob, FINISHED, getBatch, getJob, getQueue, submitBatch, submitJob } from './api.js';
import { JobFollower } from './job-follower.js';
import { RecentJobs } from './recent-jobs.js';

const POLL_MS = 1500;
const QUEUE_POLL_MS = 3000;

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const el = {
  jobForm: /** @type {HTMLFormElement} */ ($('job-form')),
  batchForm: /** @type {HTMLFormElement} */ ($('batch-form')),
  formError: $('form-error'),
  currentJob: $('current-job'),
  currentStatus: $('current-status'),
  currentProgress: /** @type {HTMLProgressElement} */ ($('current-progress')),
  currentMeta: $('current-meta'),
  stream: $('stream-output'),
  connection: $('connection'),
  cancelCurrent: /** @type {HTMLButtonElement} */ ($('cancel-current')),
  batchPanel: $('batch-panel'),
  batchId: $('batch-id'),
  batchCounts: $('batch-counts'),
  batchProgress: /** @type {HTMLProgressElement} */ ($('batch-progress')),
  recentBody: $('recent-body'),
  recentEmpty: $('recent-empty'),
  clearRecent: $('clear-recent'),
  queueSummary: $('queue-summary'),
};

const recent = new RecentJobs();

/** @type {{id: string, follower: JobFollower, text: Text, status: string} | null} */
let current = null;
/** @type {string | null} */
let currentBatch = null;
/** Whether the followed batch's jobs have all finished: until then it is polled, whatever the recent list says. */
let currentBatchDone = false;

// ---- settings ------------------------------------------------------------------------------------

/** The job fields from the form; the API validates them again and answers with the field at fault. */
function readSettings() {
  const data = new FormData(el.jobForm);
  const number = (name) => {
    const raw = String(data.get(name) ?? '').trim();
    return raw === '' ? undefined : Number(raw);
  };
  const stop = String(data.get('stop') ?? '')
    .split('\n')
    .filter((s) => s !== '');
  const settings = {
    max_tokens: number('max_tokens'),
    temperature: number('temperature'),
    top_p: number('top_p'),
    top_k: number('top_k'),
    seed: number('seed'),
    priority: number('priority'),
    stop,
  };
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
}

/** @param {string} message */
function showError(message) {
  el.formError.textContent = message;
  el.formError.hidden = message === '';
}

/**
 * @param {HTMLFormElement} form
 * @param {() => Promise<void>} action
 */
async function busy(form, action) {
  const buttons = form.querySelectorAll('button');
  for (const b of buttons) b.disabled = true;
  showError('');
  try {
    await action();
  } catch (error) {
    showError(error instanceof Error ? error.message : String(error));
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

el.jobForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void busy(el.jobForm, async () => {
    const prompt = String(new FormData(el.jobForm).get('prompt') ?? '');
    const settings = readSettings();
    const accepted = await submitJob({ prompt, ...settings });
    recent.add([newRecent(accepted.id, prompt, null, settings.max_tokens)]);
    select(accepted.id);
  });
});

el.batchForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void busy(el.batchForm, async () => {
    const prompts = String(new FormData(el.batchForm).get('batch-prompts') ?? '')
      .split('\n')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    if (prompts.length === 0) throw new Error('Write at least one prompt, one per line.');
    const settings = readSettings();
    // Each job gets its own seed, counting up from the form's, so the batch's jobs differ.
    const jobs = prompts.map((prompt, i) => ({
      prompt,
      ...settings,
      ...(settings.seed === undefined ? {} : { seed: settings.seed + i }),
    }));
    const accepted = await submitBatch(jobs);
    recent.add(accepted.jobs.map((j, i) => newRecent(j.id, prompts[i], accepted.batch_id, settings.max_tokens)));
    followBatch(accepted.batch_id);
    select(accepted.jobs[0].id);
  });
});

/**
 * @param {string} id
 * @param {string} prompt
 * @param {string | null} batchId
 * @param {number | undefined} maxTokens as submitted (the API's default when undefined, learned from the first poll)
 */
function newRecent(id, prompt, batchId, maxTokens) {
  return {
    id,
    prompt: prompt.slice(0, 200),
    batch_id: batchId,
    submitted_at: new Date().toISOString(),
    status: 'queued',
    queue_position: null,
    generated_tokens: 0,
    max_tokens: maxTokens ?? null,
  };
}

// ---- the followed job ----------------------------------------------------------------------------

/** @param {string} status */
function setStatus(status) {
  el.currentStatus.textContent = status;
  el.currentStatus.dataset.status = status;
  el.cancelCurrent.disabled = FINISHED.has(status);
  if (current) current.status = status;
}

/**
 * Opens a job in the output panel and follows its stream from the start (a finished job replays).
 * @param {string} id
 */
function select(id) {
  current?.follower.stop();
  el.stream.textContent = '';
  const text = document.createTextNode('');
  el.stream.append(text);
  el.currentJob.textContent = id;
  el.currentMeta.textContent = '';
  el.connection.textContent = '';
  el.currentProgress.value = 0;
  el.currentProgress.max = 1;
  const known = recent.get(id);
  setStatus(known && !FINISHED.has(known.status) ? known.status : 'connecting');
  const follower = new JobFollower(id, {
    onStatus: (status) => {
      setStatus(status);
      recent.update(id, { status, ...(status === 'queued' ? {} : { queue_position: null }) });
    },
    onTokens: (chunk) => {
      const stick = el.stream.scrollTop + el.stream.clientHeight >= el.stream.scrollHeight - 8;
      text.appendData(chunk.text);
      if (stick) el.stream.scrollTop = el.stream.scrollHeight;
    },
    onProgress: (p) => {
      el.currentProgress.max = p.max_tokens;
      el.currentProgress.value = p.generated_tokens;
      const rate = p.tokens_per_second ? ` · ${p.tokens_per_second.toFixed(1)} tokens/s` : '';
      el.currentMeta.textContent = `${p.generated_tokens} / ${p.max_tokens} tokens${rate}`;
      recent.update(id, { generated_tokens: p.generated_tokens, max_tokens: p.max_tokens });
    },
    onDone: (done) => {
      setStatus(done.status);
      const { usage, finish_reason: reason, timings } = done.result;
      el.currentProgress.max = Math.max(1, usage.completion_tokens);
      el.currentProgress.value = usage.completion_tokens;
      const ttft = timings.time_to_first_token_ms === null ? '' : ` · first token ${timings.time_to_first_token_ms} ms`;
      el.currentMeta.textContent =
        `${done.status}: ${reason} · ${usage.prompt_tokens} prompt + ${usage.completion_tokens} generated tokens` +
        `${ttft} · total ${timings.total_ms} ms`;
      recent.update(id, {
        status: done.status,
        queue_position: null,
        generated_tokens: usage.completion_tokens,
      });
    },
    onError: (message) => {
      setStatus('failed');
      el.connection.textContent = `Error: ${message}`;
      void refreshJob(id);
    },
    onConnection: (state, detail) => {
      if (state === 'reconnecting') el.connection.textContent = `Reconnecting: ${detail}`;
      else if (state === 'open') el.connection.textContent = '';
    },
  });
  current = { id, follower, text, status: 'connecting' };
  renderRecent();
}

el.cancelCurrent.addEventListener('click', () => {
  if (current) void cancel(current.id);
});

/** @param {string} id */
async function cancel(id) {
  showError('');
  try {
    const res = await cancelJob(id);
    recent.update(id, { status: res.status });
    if (current?.id === id && !FINISHED.has(current.status)) setStatus(res.status);
  } catch (error) {
    showError(error instanceof Error ? error.message : String(error));
    void refreshJob(id);
  }
}

// ---- recent jobs ---------------------------------------------------------------------------------

function renderRecent() {
  const rows = recent.jobs.map((job) => {
    const tr = document.createElement('tr');
    tr.dataset.jobId = job.id;
    if (current?.id === job.id) tr.setAttribute('aria-current', 'true');

    const idCell = document.createElement('td');
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'link mono';
    open.textContent = job.id;
    open.setAttribute('aria-label', `Show job ${job.id}`);
    open.addEventListener('click', () => {
      select(job.id);
      el.stream.focus();
    });
    idCell.append(open);
    if (job.batch_id) {
      const b = document.createElement('div');
      b.className = 'hint mono';
      b.textContent = job.batch_id;
      idCell.append(b);
    }

    const prompt = document.createElement('td');
    prompt.className = 'prompt';
    prompt.textContent = job.prompt;
    prompt.title = job.prompt;

    const status = document.createElement('td');
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.dataset.status = job.status;
    badge.textContent = job.status;
    status.append(badge);

    const position = document.createElement('td');
    position.textContent = job.queue_position === null ? '—' : String(job.queue_position);

    const progress = document.createElement('td');
    progress.textContent =
      job.max_tokens === null ? `${job.generated_tokens}` : `${job.generated_tokens} / ${job.max_tokens}`;

    const actions = document.createElement('td');
    const cancelButton = document.createElement('button');
    cancelButton.type = 'button';
    cancelButton.className = 'danger';
    cancelButton.textContent = 'Cancel';
    cancelButton.setAttribute('aria-label', `Cancel job ${job.id}`);
    cancelButton.disabled = FINISHED.has(job.status) || job.status === 'cancelling';
    cancelButton.addEventListener('click', () => void cancel(job.id));
    actions.append(cancelButton);

    tr.append(idCell, prompt, status, position, progress, actions);
    return tr;
  });
  // Keep keyboard focus on the same control across re-renders.
  const focused = document.activeElement;
  const focusKey =
    focused instanceof HTMLElement && el.recentBody.contains(focused) ? focused.getAttribute('aria-label') : null;
  el.recentBody.replaceChildren(...rows);
  if (focusKey) el.recentBody.querySelector(`[aria-label="${CSS.escape(focusKey)}"]`)?.focus();
  el.recentEmpty.hidden = recent.jobs.length > 0;
}

recent.subscribe(renderRecent);
el.clearRecent.addEventListener('click', () => {
  recent.clear();
});

/** @param {string} id */
async function refreshJob(id) {
  try {
    const view = await getJob(id);
    recent.update(id, fromView(view));
  } catch (error) {
    if (error?.status === 404) recent.update(id, { status: 'expired', queue_position: null });
  }
}

/** @param {any} view a JobView (GET /v1/jobs/:id) or a batch's job entry */
function fromView(view) {
  if (view.status === 'expired') return { status: 'expired', queue_position: null };
  return {
    status: view.status,
    queue_position: view.queue_position,
    generated_tokens: view.progress.generated_tokens,
    ...(view.progress.max_tokens === null ? {} : { max_tokens: view.progress.max_tokens }),
  };
}

/** Polls unfinished recent jobs: a batch with one request (its jobs come without text), single jobs one each. */
async function pollRecent() {
  const unfinished = recent.jobs.filter((j) => !FINISHED.has(j.status));
  const batches = new Set(unfinished.filter((j) => j.batch_id).map((j) => j.batch_id));
  if (currentBatch && !currentBatchDone) batches.add(currentBatch);
  const singles = unfinished.filter((j) => !j.batch_id);
  await Promise.all([
    ...[...batches].map(async (batchId) => {
      try {
        const batch = await getBatch(batchId);
        for (const job of batch.jobs) recent.update(job.id, fromView(job));
        if (batchId === currentBatch) renderBatch(batch);
      } catch (error) {
        if (error?.status !== 404) return;
        for (const j of unfinished) if (j.batch_id === batchId) recent.update(j.id, { status: 'expired' });
        if (batchId === currentBatch) {
          currentBatchDone = true;
          el.batchCounts.textContent = 'This batch has expired.';
        }
      }
    }),
    ...singles.map((j) => refreshJob(j.id)),
  ]);
}

// ---- batch ---------------------------------------------------------------------------------------

/** @param {string} batchId */
function followBatch(batchId) {
  currentBatch = batchId;
  currentBatchDone = false;
  el.batchPanel.hidden = false;
  el.batchId.textContent = batchId;
  el.batchCounts.textContent = 'Submitted.';
  void getBatch(batchId).then(renderBatch, () => undefined);
}

/** @param {any} batch */
function renderBatch(batch) {
  const c = batch.counts;
  const done = c.completed + c.failed + c.cancelled + c.expired;
  if (batch.id === currentBatch) currentBatchDone = done === c.total;
  el.batchProgress.max = Math.max(1, c.total);
  el.batchProgress.value = done;
  el.batchCounts.textContent =
    `${done} of ${c.total} finished · ${c.queued} queued · ${c.running} running · ` +
    `${c.completed} completed · ${c.failed} failed · ${c.cancelled} cancelled`;
}

// ---- queue summary -------------------------------------------------------------------------------

async function pollQueue() {
  try {
    const q = await getQueue();
    el.queueSummary.textContent = `Queue: ${q.queued} waiting · ${q.active} running`;
  } catch {
    el.queueSummary.textContent = 'Queue: unavailable';
  }
}

/**
 * Runs `task` now and every `ms` while the page is visible, never two at once.
 * @param {() => Promise<void>} task
 * @param {number} ms
 */
function every(task, ms) {
  let running = false;
  const tick = async () => {
    if (running || document.hidden) return;
    running = true;
    try {
      await task();
    } finally {
      running = false;
    }
  };
  void tick();
  setInterval(() => void tick(), ms);
  document.addEventListener('visibilitychange', () => void tick());
}

renderRecent();
every(pollRecent, POLL_MS);
every(pollQueue, QUEUE_POLL_MS);
