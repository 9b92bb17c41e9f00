import { randomInt } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import type { JobRequest } from '@sambay/protocol';
import type { ApiError } from '../errors/api-error.js';
import { formatParam } from '../validation/job-request.js';
import type { ChatTemplate, TemplateMessage } from './chat-template.js';
import { OpenAiError } from './openai-errors.js';

/** Which OpenAI endpoint a request came to; also the `object` family of its responses. */
export type OpenAiEndpoint = 'completion' | 'chat';

/** An OpenAI request as jobs: one JobRequest per choice, in choice order. */
export interface OpenAiRequest {
  endpoint: OpenAiEndpoint;
  requests: JobRequest[];
  /** Choices per prompt. */
  n: number;
  stream: boolean;
  /** `stream_options.include_usage`: a last chunk with the usage of the whole request. */
  includeUsage: boolean;
}

export interface OpenAiRequestContext {
  /** MAX_PROMPT_CHARS and MAX_TOKENS_LIMIT, as on POST /v1/jobs. */
  maxPromptChars: number;
  maxTokensLimit: number;
  /** Most choices (prompts × n) one request may ask for: MAX_BATCH_JOBS, as one native batch. */
  maxChoices: number;
  servedModel: string;
  chatTemplate: () => Promise<ChatTemplate>;
}

/** Validates OpenAI request bodies into jobs; `priority` is the jobs' queue priority (0 online, lower for batch lines). */
export interface OpenAiRequestParser {
  completion(body: unknown, priority: number): OpenAiRequest;
  chat(body: unknown, priority: number): Promise<OpenAiRequest>;
}

const MAX_STOP_SEQUENCES = 16;
const MAX_METADATA_KEYS = 16;
const MAX_METADATA_VALUE_CHARS = 512;
/** OpenAI's default for /v1/completions; chat defaults to as much as the limit allows, as OpenAI's does. */
const COMPLETIONS_DEFAULT_MAX_TOKENS = 16;

const rule = (phrase: string) => ({ error: phrase });

type NeutralRules = Record<string, [allowed: unknown[], why: string]>;

/**
 * Parameters accepted only at the value that leaves the output unchanged (OpenAI's default; null
 * always passes): a request that asks for more than the engine does is refused, never silently ignored.
 */
const COMMON_NEUTRAL: NeutralRules = {
  presence_penalty: [[0], 'is not supported: the engine applies no penalties (only 0 is accepted)'],
  frequency_penalty: [[0], 'is not supported: the engine applies no penalties (only 0 is accepted)'],
  repetition_penalty: [[1], 'is not supported: the engine applies no penalties (only 1 is accepted)'],
  logit_bias: [[{}], 'is not supported: the engine applies no logit bias'],
  min_tokens: [[0], 'is not supported: the engine cannot hold back EOS for a minimum length (only 0 is accepted)'],
  service_tier: [['auto', 'default'], 'is not supported: only `auto` and `default` are accepted'],
};
const COMPLETION_NEUTRAL: NeutralRules = {
  echo: [[false], 'is not supported: the prompt is never echoed'],
  suffix: [[''], 'is not supported: the engine does not insert text'],
  best_of: [[1], 'is not supported: each choice is one generation'],
  logprobs: [[], 'is not supported: the engine does not report log probabilities'],
};
const CHAT_NEUTRAL: NeutralRules = {
  logprobs: [[false], 'is not supported: the engine does not report log probabilities'],
  top_logprobs: [[0], 'is not supported: the engine does not report log probabilities'],
  tools: [[[]], 'is not supported: this server does not do tool calling'],
  tool_choice: [['none'], 'is not supported: this server does not do tool calling'],
  response_format: [[{ type: 'text' }], 'is not supported: only {"type": "text"} (no structured output)'],
  modalities: [[['text']], 'is not supported: only ["text"]'],
  store: [[false], 'is not supported: completions are not stored for later retrieval'],
};
/** Their failures are `unsupported_parameter`, not `invalid_value`. */
const NEUTRAL_PARAMS = new Set(Object.keys({ ...COMMON_NEUTRAL, ...COMPLETION_NEUTRAL, ...CHAT_NEUTRAL }));

function neutralShape(rules: NeutralRules) {
  const accepts = (allowed: unknown[]) => (value: unknown) =>
    value === null || value === undefined || allowed.some((a) => isDeepStrictEqual(a, value));
  return Object.fromEntries(
    Object.entries(rules).map(([key, [allowed, why]]) => [
      key,
      z.unknown().refine(accepts(allowed), { error: why }).optional(),
    ]),
  );
}

function commonShape(ctx: OpenAiRequestContext) {
  const maxTokens = `must be an integer >= 1 and <= ${ctx.maxTokensLimit}`;
  const temperature = 'must be a number >= 0 (0 is greedy) and <= 100';
  const topP = 'must be > 0 and <= 1';
  const topK = 'must be an integer >= -1 (-1 and 0 disable top-k)';
  const seed = `must be an integer >= 0 and <= ${Number.MAX_SAFE_INTEGER - ctx.maxChoices}`;
  const stop = `must be a non-empty string or a list of at most ${MAX_STOP_SEQUENCES} non-empty strings`;
  const n = `must be an integer >= 1 and <= ${ctx.maxChoices}`;
  const stopString = z.string(rule(stop)).min(1, rule(stop));
  const int = (phrase: string) => z.number(rule(phrase)).int(rule(phrase));
  return {
    model: z.string(rule('must be a string: an id from GET /v1/models')),
    max_tokens: int(maxTokens).min(1, rule(maxTokens)).max(ctx.maxTokensLimit, rule(maxTokens)).nullish(),
    temperature: z.number(rule(temperature)).min(0, rule(temperature)).max(100, rule(temperature)).nullish(),
    top_p: z.number(rule(topP)).gt(0, rule(topP)).max(1, rule(topP)).nullish(),
    top_k: int(topK).min(-1, rule(topK)).nullish(),
    seed: int(seed)
      .min(0, rule(seed))
      .max(Number.MAX_SAFE_INTEGER - ctx.maxChoices, rule(seed))
      .nullish(),
    stop: z
      .union(
        [stopString.transform((s) => [s]), z.array(stopString, rule(stop)).max(MAX_STOP_SEQUENCES, rule(stop))],
        rule(stop),
      )
      .nullish(),
    n: int(n).min(1, rule(n)).max(ctx.maxChoices, rule(n)).nullish(),
    stream: z.boolean(rule('must be a boolean')).nullish(),
    stream_options: z
      .strictObject({ include_usage: z.boolean(rule('must be a boolean')).nullish() }, rule('must be an object'))
      .nullish(),
    user: z
      .string(rule('must be a string'))
      .max(MAX_METADATA_VALUE_CHARS, rule(`must be at most ${MAX_METADATA_VALUE_CHARS} characters`))
      .nullish(),
    ignore_eos: z
      .boolean(rule('must be a boolean (true generates to max_tokens whatever EOS the model samples)'))
      .nullish(),
    ...neutralShape(COMMON_NEUTRAL),
  };
}

function completionSchema(ctx: OpenAiRequestContext) {
  const prompt = `must be a non-empty string of at most ${ctx.maxPromptChars} characters, or a list of them (token-id prompts are not supported)`;
  const promptString = z.string(rule(prompt)).min(1, rule(prompt)).max(ctx.maxPromptChars, rule(prompt));
  return z.strictObject(
    {
      ...commonShape(ctx),
      prompt: z.union(
        [promptString.transform((p) => [p]), z.array(promptString, rule(prompt)).min(1, rule(prompt))],
        rule(prompt),
      ),
      ...neutralShape(COMPLETION_NEUTRAL),
    },
    rule('must be a JSON object'),
  );
}

function chatSchema(ctx: OpenAiRequestContext) {
  const content = 'must be a string or a non-empty list of text parts ({"type": "text", "text": "..."})';
  const role = 'must be `system`, `developer`, `user` or `assistant` (tool and function messages are not supported)';
  const metadata = `must be an object of at most ${MAX_METADATA_KEYS} string values of at most ${MAX_METADATA_VALUE_CHARS} characters`;
  const maxTokens = `must be an integer >= 1 and <= ${ctx.maxTokensLimit}`;
  const textPart = z.strictObject(
    { type: z.literal('text', rule(content)), text: z.string(rule(content)) },
    rule(content),
  );
  const message = z.strictObject(
    {
      role: z.enum(['system', 'developer', 'user', 'assistant'], rule(role)),
      content: z.union(
        [z.string(rule(content)), z.array(textPart, rule(content)).min(1, rule(content))],
        rule(content),
      ),
      name: z.string(rule('must be a string')).nullish(),
    },
    rule('must be a message object ({"role": ..., "content": ...})'),
  );
  return z.strictObject(
    {
      ...commonShape(ctx),
      messages: z
        .array(message, rule('must be a non-empty list of messages'))
        .min(1, rule('must be a non-empty list of messages')),
      max_completion_tokens: z
        .number(rule(maxTokens))
        .int(rule(maxTokens))
        .min(1, rule(maxTokens))
        .max(ctx.maxTokensLimit, rule(maxTokens))
        .nullish(),
      add_generation_prompt: z.boolean(rule('must be a boolean')).nullish(),
      metadata: z
        .record(z.string(), z.string(rule(metadata)).max(MAX_METADATA_VALUE_CHARS, rule(metadata)), rule(metadata))
        .refine((m) => Object.keys(m).length <= MAX_METADATA_KEYS, rule(metadata))
        .nullish(),
      // Only meaningful with tools, which are refused below; harmless on its own.
      parallel_tool_calls: z.boolean(rule('must be a boolean')).nullish(),
      ...neutralShape(CHAT_NEUTRAL),
    },
    rule('must be a JSON object'),
  );
}

type CompletionBody = z.infer<ReturnType<typeof completionSchema>>;
type ChatBody = z.infer<ReturnType<typeof chatSchema>>;
type CommonBody = CompletionBody | ChatBody;

function toOpenAiError(error: z.ZodError): ApiError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') return OpenAiError.unsupported(formatParam([...issue.path, issue.keys[0]!]));
  const param = formatParam(issue.path);
  if (param === '') return OpenAiError.invalidValue(null, `the request body ${issue.message}`);
  if (issue.path.length === 1 && NEUTRAL_PARAMS.has(param))
    return OpenAiError.unsupported(param, `\`${param}\` ${issue.message}`);
  return OpenAiError.invalidValue(param, `\`${param}\` ${issue.message}`);
}

function parse<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw toOpenAiError(parsed.error);
  return parsed.data;
}

/** The request's jobs: each prompt `n` times; choice j of a prompt gets seed + j, so a seeded request is reproducible. */
function toJobs(
  ctx: OpenAiRequestContext,
  body: CommonBody,
  prompts: string[],
  options: { maxTokens: number; metadata: Record<string, string>; priority: number },
): JobRequest[] {
  if (body.model !== ctx.servedModel) throw OpenAiError.modelNotFound(body.model, ctx.servedModel);
  const n = body.n ?? 1;
  if (prompts.length * n > ctx.maxChoices)
    throw OpenAiError.invalidValue('n', `prompts × \`n\` must be at most ${ctx.maxChoices}`);
  const seed = body.seed ?? randomInt(0, 2 ** 32);
  const metadata = body.user ? { ...options.metadata, user: body.user } : options.metadata;
  return prompts.flatMap((prompt) =>
    Array.from({ length: n }, (_, j) => ({
      prompt,
      max_tokens: options.maxTokens,
      temperature: body.temperature ?? 1,
      top_p: body.top_p ?? 1,
      top_k: Math.max(0, body.top_k ?? 0),
      seed: seed + j,
      stop: body.stop ?? [],
      ignore_eos: body.ignore_eos ?? false,
      priority: options.priority,
      metadata,
    })),
  );
}

function streamFlags(body: CommonBody): Pick<OpenAiRequest, 'stream' | 'includeUsage'> {
  const stream = body.stream ?? false;
  if (!stream && body.stream_options)
    throw OpenAiError.invalidValue('stream_options', '`stream_options` is only allowed when `stream` is true');
  return { stream, includeUsage: body.stream_options?.include_usage ?? false };
}

/** `developer` is OpenAI's newer name for `system`; text parts are joined with newlines, as vLLM does. */
function templateMessages(messages: ChatBody['messages']): TemplateMessage[] {
  return messages.map(({ role, content, name }) => ({
    role: role === 'developer' ? 'system' : role,
    content: typeof content === 'string' ? content : content.map((part) => part.text).join('\n'),
    ...(name ? { name } : {}),
  }));
}

/** Builds the schemas once (the limits are fixed at start-up). */
export function createOpenAiRequestParser(ctx: OpenAiRequestContext): OpenAiRequestParser {
  const completions = completionSchema(ctx);
  const chats = chatSchema(ctx);
  return {
    completion(body, priority) {
      const parsed = parse(completions, body);
      const maxTokens = parsed.max_tokens ?? Math.min(COMPLETIONS_DEFAULT_MAX_TOKENS, ctx.maxTokensLimit);
      const requests = toJobs(ctx, parsed, parsed.prompt, { maxTokens, metadata: {}, priority });
      return { endpoint: 'completion', requests, n: parsed.n ?? 1, ...streamFlags(parsed) };
    },
    async chat(body, priority) {
      const parsed = parse(chats, body);
      const template = await ctx.chatTemplate();
      const prompt = template.render(templateMessages(parsed.messages), parsed.add_generation_prompt ?? true);
      if (prompt.length === 0 || prompt.length > ctx.maxPromptChars)
        throw OpenAiError.invalidValue(
          'messages',
          `the rendered prompt has ${prompt.length} characters; it must have 1 to ${ctx.maxPromptChars}`,
        );
      const maxTokens = parsed.max_completion_tokens ?? parsed.max_tokens ?? ctx.maxTokensLimit;
      const requests = toJobs(ctx, parsed, [prompt], { maxTokens, metadata: parsed.metadata ?? {}, priority });
      return { endpoint: 'chat', requests, n: parsed.n ?? 1, ...streamFlags(parsed) };
    },
  };
}
