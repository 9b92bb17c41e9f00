import { TokenizerError } from '@sambay/tokenizer';
import { EngineError } from '../errors/engine-error.js';
import { UsageError } from './commands/args.js';
import { generate, generateUsage } from './commands/generate.js';
import { initModel, initModelUsage } from './commands/init-model.js';
import { logits, logitsUsage } from './commands/logits.js';

const commands: Record<string, (argv: string[]) => Promise<void>> = {
  'init-model': initModel,
  generate,
  logits,
};

const usage = ['usage:', `  ${initModelUsage}`, `  ${generateUsage}`, `  ${logitsUsage}`].join('\n');

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : commands[name];
  if (!command) {
    process.stderr.write(`${usage}\n`);
    return name === undefined || name === '--help' ? 0 : 2;
  }
  try {
    await command(rest);
    return 0;
  } catch (error) {
    // parseArgs reports unknown flags with a TypeError carrying an ERR_PARSE_ARGS_* code.
    const isUsage =
      error instanceof UsageError || String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`error: ${(error as Error).message}\n`);
    if (isUsage) process.stderr.write(`${usage}\n`);
    return isUsage ? 2 : error instanceof EngineError || error instanceof TokenizerError ? 1 : 70;
  }
}

process.exitCode = await main(process.argv.slice(2));
