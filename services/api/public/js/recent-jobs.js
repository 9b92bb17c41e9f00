// Recent jobs, kept in this browser's localStorage (the server keeps no per-user list).

const STORAGE_KEY = 'sambay.recentJobs.v1';
const MAX_JOBS = 30;

/**
 * @typedef {object} RecentJob
 * @property {string} id
 * @property {string} prompt
 * @property {string | null} batch_id
 * @property {string} submitted_at ISO time
 * @property {string} status
 * @property {number | null} queue_position
 * @property {number} generated_tokens
 * @property {number | null} max_tokens
 */

export class RecentJobs {
  constructor() {
    /** @type {RecentJob[]} newest first */
    this.jobs = load();
    /** @type {Set<() => void>} */
    this.listeners = new Set();
    // Another tab of the page submitted or cleared jobs.
    window.addEventListener('storage', (event) => {
      if (event.key !== STORAGE_KEY) return;
      this.jobs = load();
      this.emit();
    });
  }

  /** @param {() => void} listener */
  subscribe(listener) {
    this.listeners.add(listener);
  }

  emit() {
    for (const listener of this.listeners) listener();
  }

  /** @param {RecentJob[]} jobs newest first */
  add(jobs) {
    const ids = new Set(jobs.map((j) => j.id));
    this.jobs = [...jobs, ...this.jobs.filter((j) => !ids.has(j.id))].slice(0, MAX_JOBS);
    this.save();
  }

  /**
   * @param {string} id
   * @param {Partial<RecentJob>} fields
   */
  update(id, fields) {
    const job = this.jobs.find((j) => j.id === id);
    if (!job) return;
    const changed = Object.entries(fields).some(([k, v]) => job[k] !== v);
    if (!changed) return;
    Object.assign(job, fields);
    this.save();
  }

  /** @param {string} id */
  get(id) {
    return this.jobs.find((j) => j.id === id);
  }

  clear() {
    this.jobs = [];
    this.save();
  }

  save() {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.jobs));
    } catch {
      // Storage full or disabled (private mode): the list lives for this page only.
    }
    this.emit();
  }
}

/** @returns {RecentJob[]} */
function load() {
  try {
    const parsed = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '[]');
    return Array.isArray(parsed) ? parsed.filter((j) => j && typeof j.id === 'string') : [];
  } catch {
    return [];
  }
}
