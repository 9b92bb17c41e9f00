/** The pure-TypeScript forward pass: the oracle the ONNX graphs are tested against. */
export { differentialAttention, lambdaInit, type DiffAttentionParams } from './differential-attention.js';
export { referenceLogits } from './forward.js';
export { gmu } from './gmu.js';
export { emptyMambaState, mambaStep, type MambaWeights } from './mamba.js';
export { mlp } from './mlp.js';
