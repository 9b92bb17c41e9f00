// Chat templates as the OpenAI-compatible API renders them with @huggingface/jinja: a real one
// (Phi-4-mini's, from its tokenizer_config.json), the default for models without one, and errors.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ChatTemplate, DEFAULT_CHAT_TEMPLATE, type TemplateMessage } from '@sambay/api/openai/chat-template';

/** microsoft/Phi-4-mini-instruct tokenizer_config.json `chat_template` (the Phi-4 family's format). */
const PHI4_TEMPLATE =
  "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and message['tools'] is not none %}" +
  "{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + '<|/tool|>' + '<|end|>' }}" +
  "{% else %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";

const messages: TemplateMessage[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'What is 2+2?' },
  { role: 'assistant', content: '4' },
  { role: 'user', content: 'And 3+3?' },
];

const PHI4_PROMPT =
  '<|system|>You are a helpful assistant.<|end|><|user|>What is 2+2?<|end|><|assistant|>4<|end|><|user|>And 3+3?<|end|><|assistant|>';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function modelDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'chat-template-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

test("renders Phi-4's template from tokenizer_config.json, with and without the generation prompt", async () => {
  const dir = await modelDir({
    'tokenizer_config.json': JSON.stringify({
      chat_template: PHI4_TEMPLATE,
      bos_token: '<|endoftext|>',
      eos_token: { content: '<|endoftext|>', special: true },
    }),
  });
  const template = await ChatTemplate.load(dir);
  assert.equal(template.render(messages, true), PHI4_PROMPT);
  assert.equal(template.render(messages.slice(0, 3), false), `${PHI4_PROMPT.split('<|user|>And')[0]}<|endoftext|>`);
});

test('a model without a template gets the documented default, which speaks the same format', async () => {
  const template = await ChatTemplate.load(await modelDir({ 'config.json': '{}' }));
  assert.equal(template.source, DEFAULT_CHAT_TEMPLATE);
  assert.equal(template.render(messages, true), PHI4_PROMPT);
});

test('chat_template.jinja wins over tokenizer_config.json; named templates pick `default`', async () => {
  const jinja = await ChatTemplate.load(
    await modelDir({
      'chat_template.jinja': '{{ messages[0].content }}!',
      'tokenizer_config.json': JSON.stringify({ chat_template: PHI4_TEMPLATE }),
    }),
  );
  assert.equal(jinja.render(messages, true), 'You are a helpful assistant.!');
  const named = await ChatTemplate.load(
    await modelDir({
      'tokenizer_config.json': JSON.stringify({
        chat_template: [
          { name: 'tool_use', template: 'tools' },
          { name: 'default', template: '{{ messages | length }}' },
        ],
      }),
    }),
  );
  assert.equal(named.render(messages, true), '4');
});

test("a template's raise_exception is the request's error, naming messages", () => {
  const template = new ChatTemplate("{{ raise_exception('roles must alternate') }}", { bos_token: '', eos_token: '' });
  assert.throws(
    () => template.render(messages, true),
    (error: { status?: number; param?: string; message: string }) =>
      error.status === 400 && error.param === 'messages' && error.message.includes('roles must alternate'),
  );
});
