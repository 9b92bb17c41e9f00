import { EngineError } from '../../errors/engine-error.js';
import { WEIGHT_MODES, type WeightMode } from '../../graph/weights/weight-file.js';

/** A command line the CLI cannot act on; printed with the usage and exit code 2. */
export class UsageError extends EngineError {
  constructor(message: string) {
    super('usage', message);
  }
}

export function requireOption(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.length === 0) throw new UsageError(`--${name} is required`);
  return value;
}

export function numberOption(values: Record<string, unknown>, name: string, fallback: number, isInt = false): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || (isInt && !Number.isInteger(value))) {
    throw new UsageError(`--${name} must be ${isInt ? 'an integer' : 'a number'}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function idList(raw: string, name: string): number[] {
  const ids = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (ids.length === 0 || !ids.every((id) => Number.isInteger(id) && id >= 0)) {
    throw new UsageError(`--${name} must be a comma-separated list of token ids, got ${JSON.stringify(raw)}`);
  }
  return ids;
}

/** `--weights f32|int8|int4`: how the model's linear weights are held. */
export function weightModeOption(values: Record<string, unknown>): WeightMode {
  const raw = values.weights ?? 'f32';
  if (!(WEIGHT_MODES as readonly unknown[]).includes(raw)) {
    throw new UsageError(`--weights must be one of ${WEIGHT_MODES.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as WeightMode;
}
