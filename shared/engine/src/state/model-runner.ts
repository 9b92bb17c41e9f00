import type { Tensor } from 'onnxruntime-node';

/** Named graph inputs or outputs. */
export type Feeds = Record<string, Tensor>;

/** The two compiled graphs a batch runs; the engine owns the sessions behind them. */
export interface ModelRunner {
  prefill(feeds: Feeds): Promise<Feeds>;
  decode(feeds: Feeds): Promise<Feeds>;
}
