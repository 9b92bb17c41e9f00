import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { OpenAiError } from './openai-errors.js';

/**
 * The template for models that ship none: Phi-4's format (`<|role|>content<|end|>`, then
 * `<|assistant|>`), since the SambaY models this service is built for (Phi-4-mini-flash) speak it.
 * Other models should ship their own in tokenizer_config.json; docs/openai.md#chat-template.
 */
export const DEFAULT_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}";

/** A chat message as templates see it: text parts already joined into one string. */
export interface TemplateMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
  name?: string;
}

/** tokenizer_config.json's special tokens are a string or an AddedToken object. */
function tokenText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'content' in value && typeof value.content === 'string')
    return value.content;
  return '';
}

/** `chat_template` is a string, or a list of named templates of which `default` is the chat one. */
function templateSource(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) return null;
  const named = (value as { name?: unknown; template?: unknown }[]).find((t) => t.name === 'default');
  return typeof named?.template === 'string' ? named.template : null;
}

async function readIfPresent(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** A model's chat template, rendered as Hugging Face's `apply_chat_template(..., tokenize=False)` would. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly source: string,
    private readonly specialTokens: { bos_token: string; eos_token: string },
  ) {
    this.template = new Template(source);
  }

  /**
   * The template of the model in `modelDir`: `chat_template.jinja` (where newer transformers save
   * it), else tokenizer_config.json's `chat_template`, else {@link DEFAULT_CHAT_TEMPLATE}.
   */
  static async load(modelDir: string): Promise<ChatTemplate> {
    const [jinja, configText] = await Promise.all([
      readIfPresent(join(modelDir, 'chat_template.jinja')),
      readIfPresent(join(modelDir, 'tokenizer_config.json')),
    ]);
    const config = configText === null ? {} : (JSON.parse(configText) as Record<string, unknown>);
    const source = jinja ?? templateSource(config.chat_template) ?? DEFAULT_CHAT_TEMPLATE;
    return new ChatTemplate(source, { bos_token: tokenText(config.bos_token), eos_token: tokenText(config.eos_token) });
  }

  /** The prompt text; a template that raises (e.g. roles that do not alternate) is the request's fault. */
  render(messages: TemplateMessage[], addGenerationPrompt: boolean): string {
    try {
      return this.template.render({ messages, add_generation_prompt: addGenerationPrompt, ...this.specialTokens });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw OpenAiError.invalidValue('messages', `the model's chat template rejected the messages: ${reason}`);
    }
  }
}
