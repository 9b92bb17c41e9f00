import { checkpointLayout } from './checkpoint-layout.js';
import type { ModelConfig } from './config.js';
import type { LayerPlan } from './layer-plan.js';
import { seededUniform } from './seeded-uniform.js';
import { tensor, type Tensor, type Weights } from './tensor.js';

function normalSource(seed: number): () => number {
  const uniform = seededUniform(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

const inverseSoftplus = (y: number) => Math.log(Math.expm1(y));

/**
 * Deterministic weights for a plan, scaled so activations neither vanish nor explode through the
 * layers (matrices ~ N(0, 1/fan_in)), with Mamba's usual A = 1..N and dt in [1e-3, 1e-1].
 */
export function initWeights(config: ModelConfig, plan: LayerPlan, seed: number): Weights {
  return new Map(generateWeights(config, plan, seed));
}

/** `initWeights` one tensor at a time, in checkpoint-layout order (for checkpoints larger than memory). */
export function* generateWeights(config: ModelConfig, plan: LayerPlan, seed: number): Generator<[string, Tensor]> {
  const normal = normalSource(seed);
  const uniform = seededUniform(seed ^ 0x9e3779b9);
  for (const [name, shape] of checkpointLayout(config, plan)) {
    const t = tensor(shape);
    const last = name.split('.').at(-1)!;
    const fill = (f: (i: number) => number) => {
      t.data.forEach((_, i) => (t.data[i] = f(i)));
    };
    if (name.endsWith('layernorm.weight') || name.endsWith('subln.weight')) fill(() => 1 + 0.1 * normal());
    else if (name.endsWith('layernorm.bias')) fill(() => 0.1 * normal());
    else if (last === 'A_log') fill((i) => Math.log(1 + (i % config.mamba.dState)));
    else if (last === 'D') fill(() => 1 + 0.1 * normal());
    else if (name.endsWith('dt_proj.bias'))
      fill(() => inverseSoftplus(Math.exp(Math.log(1e-3) + uniform() * Math.log(100))));
    else if (last.startsWith('lambda_')) fill(() => 0.1 * normal());
    else if (name === 'model.embed_tokens.weight')
      fill(() => normal() / Math.sqrt(shape[1]!)); // logits ~ N(0, 1): varied samples
    else if (shape.length === 1) fill(() => 0.02 * normal());
    else {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      const std = 1 / Math.sqrt(fanIn);
      fill(() => std * normal());
    }
    yield [name, t];
  }
}
