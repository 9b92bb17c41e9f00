// The native HTTP API, as the page uses it. Errors carry the API's envelope message.

export class ApiRequestError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {string | null} code
   */
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * @param {string} path
 * @param {RequestInit} [init]
 */
async function request(path, init) {
  const res = await fetch(path, {
    ...init,
    headers: { accept: 'application/json', ...(init?.body ? { 'content-type': 'application/json' } : {}) },
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const error = body?.error;
    throw new ApiRequestError(res.status, error?.message ?? `${res.status} ${res.statusText}`, error?.code ?? null);
  }
  return body;
}

/** @param {object} job one job's fields: prompt, max_tokens, temperature, … */
export const submitJob = (job) => request('/v1/jobs', { method: 'POST', body: JSON.stringify(job) });

/** @param {object[]} jobs */
export const submitBatch = (jobs) => request('/v1/jobs', { method: 'POST', body: JSON.stringify({ jobs }) });

/** @param {string} id */
export const getJob = (id) => request(`/v1/jobs/${encodeURIComponent(id)}`);

/** @param {string} id */
export const getBatch = (id) => request(`/v1/batches/${encodeURIComponent(id)}`);

/** @param {string} id */
export const cancelJob = (id) => request(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: 'POST', body: '{}' });

export const getQueue = () => request('/v1/queue');

/** @param {string} id */
export const eventsUrl = (id) => `/v1/jobs/${encodeURIComponent(id)}/events`;

export const FINISHED = new Set(['completed', 'failed', 'cancelled', 'expired']);
