import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { PRIORITY_MAX, PRIORITY_MIN, type JobRequest } from '@sambay/protocol';
import { ApiError } from '../errors/api-error.js';

/** Limits that come from configuration (MAX_PROMPT_CHARS, MAX_TOKENS_LIMIT, MAX_BATCH_JOBS). */
export interface ValidationLimits {
  maxPromptChars: number;
  maxTokensLimit: number;
  maxBatchJobs: number;
}

const MAX_STOP_SEQUENCES = 16;
/**
 * Longest stop string. Stop strings are meant for delimiters (`</answer>`, `\n\nUser:`); the bound
 * keeps a request from making every decoded token carry kilobytes of matching state.
 */
const MAX_STOP_CHARS = 256;
const MAX_METADATA_KEYS = 16;
const MAX_METADATA_KEY_CHARS = 64;
const MAX_METADATA_VALUE_CHARS = 512;
const DEFAULT_MAX_TOKENS = 256;

/**
 * Each field's schema says its whole rule in one phrase, used for every way the field can be wrong
 * (wrong type or out of range), so the client reads one message naming the field and what it accepts.
 */
const rule = (phrase: string) => ({ error: phrase });

function jobSchema(limits: ValidationLimits) {
  // Characters bound the body only; the model's limit is in tokens (see validateJobRequest).
  const prompt = `must be a non-empty string of at most ${limits.maxPromptChars} characters`;
  const maxTokens = `must be an integer >= 1 and <= ${limits.maxTokensLimit}`;
  const temperature = 'must be a number >= 0 (0 is greedy) and <= 100';
  const topP = 'must be > 0 and <= 1';
  const topK = 'must be an integer >= 0 (0 disables top-k)';
  const seed = `must be an integer >= 0 and <= ${Number.MAX_SAFE_INTEGER}`;
  const stop = `must be a non-empty string or a list of at most ${MAX_STOP_SEQUENCES} non-empty strings, each of at most ${MAX_STOP_CHARS} characters`;
  const ignoreEos = 'must be a boolean (true generates to max_tokens whatever EOS the model samples)';
  const priority = `must be an integer >= ${PRIORITY_MIN} and <= ${PRIORITY_MAX} (higher runs sooner)`;
  const metadata = `must be an object of at most ${MAX_METADATA_KEYS} string values (keys <= ${MAX_METADATA_KEY_CHARS} chars, values <= ${MAX_METADATA_VALUE_CHARS} chars)`;
  const stopString = z.string(rule(stop)).min(1, rule(stop)).max(MAX_STOP_CHARS, rule(stop));
  return z.strictObject(
    {
      prompt: z.string(rule(prompt)).min(1, rule(prompt)).max(limits.maxPromptChars, rule(prompt)),
      max_tokens: z
        .number(rule(maxTokens))
        .int(rule(maxTokens))
        .min(1, rule(maxTokens))
        .max(limits.maxTokensLimit, rule(maxTokens))
        .default(Math.min(DEFAULT_MAX_TOKENS, limits.maxTokensLimit)),
      temperature: z.number(rule(temperature)).min(0, rule(temperature)).max(100, rule(temperature)).default(1.0),
      top_p: z.number(rule(topP)).gt(0, rule(topP)).max(1, rule(topP)).default(1.0),
      top_k: z.number(rule(topK)).int(rule(topK)).min(0, rule(topK)).default(0),
      seed: z.number(rule(seed)).int(rule(seed)).min(0, rule(seed)).max(Number.MAX_SAFE_INTEGER, rule(seed)).optional(),
      stop: z
        .union(
          [stopString.transform((s) => [s]), z.array(stopString, rule(stop)).max(MAX_STOP_SEQUENCES, rule(stop))],
          rule(stop),
        )
        .default([]),
      ignore_eos: z.boolean(rule(ignoreEos)).default(false),
      priority: z
        .number(rule(priority))
        .int(rule(priority))
        .min(PRIORITY_MIN, rule(priority))
        .max(PRIORITY_MAX, rule(priority))
        .default(0),
      metadata: z
        .record(
          z.string().max(MAX_METADATA_KEY_CHARS, rule(metadata)),
          z.string(rule(metadata)).max(MAX_METADATA_VALUE_CHARS, rule(metadata)),
          rule(metadata),
        )
        .refine((m) => Object.keys(m).length <= MAX_METADATA_KEYS, rule(metadata))
        .default({}),
    },
    rule('must be a JSON object'),
  );
}

/** The body of POST /v1/jobs, validated: one job or a batch. */
export type SubmitRequest = { kind: 'single'; job: JobRequest } | { kind: 'batch'; jobs: JobRequest[] };

/** Formats a zod path as the client wrote it: `jobs[2].temperature`. */
export function formatParam(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    '',
  );
}

function toApiError(error: z.ZodError): ApiError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const param = formatParam([...issue.path, issue.keys[0]!]);
    return ApiError.invalidField(param, `\`${param}\` is not a known field`);
  }
  const param = formatParam(issue.path);
  if (param === '') return ApiError.invalidField(null, `the request body ${issue.message}`);
  return ApiError.invalidField(param, `\`${param}\` ${issue.message}`);
}

/**
 * Builds the validator for POST /v1/jobs once (limits are fixed at start-up). Throws ApiError 422
 * naming the first invalid field; fills defaults and draws a seed for jobs that give none, so the
 * stored request alone reproduces the generation.
 */
export function createJobRequestValidator(limits: ValidationLimits): (body: unknown) => SubmitRequest {
  const job = jobSchema(limits);
  const batchMessage = `must be a list of 1 to ${limits.maxBatchJobs} jobs`;
  const batch = z.strictObject(
    { jobs: z.array(job, rule(batchMessage)).min(1, rule(batchMessage)).max(limits.maxBatchJobs, rule(batchMessage)) },
    rule('must be a JSON object'),
  );
  const withSeed = (request: z.infer<typeof job>): JobRequest => ({
    ...request,
    seed: request.seed ?? randomInt(0, 2 ** 32),
  });

  // The prompt's limit in tokens (MAX_PROMPT_TOKENS) needs the tokenizer: the route checks it next
  // (prompt-token-limit.ts); MAX_PROMPT_CHARS here only bounds what that check has to read.
  return function validateJobRequest(body: unknown): SubmitRequest {
    const isBatch = typeof body === 'object' && body !== null && !Array.isArray(body) && 'jobs' in body;
    if (isBatch) {
      const parsed = batch.safeParse(body);
      if (!parsed.success) throw toApiError(parsed.error);
      return { kind: 'batch', jobs: parsed.data.jobs.map(withSeed) };
    }
    const parsed = job.safeParse(body);
    if (!parsed.success) throw toApiError(parsed.error);
    return { kind: 'single', job: withSeed(parsed.data) };
  };
}
