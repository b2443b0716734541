// Messages between the loader (main thread) and its workers.
import type { AugSpec } from './augment.js';
import type { PlanStep } from './augment/plan.js';
import type { DatasetDescriptor } from './datasets.js';

export interface WorkerConfig {
  dataset: DatasetDescriptor;
  imageSize: number;
  clipPercentile: number;
  mean: number;
  std: number;
  cacheDir: string | null;
  augmentations: AugSpec[];
  seed: number;
  maxSubstitutes: number;
  /** Augment on the device: the worker returns each sample's 16-bit words and its views' plans, not views. */
  deviceAugment: boolean;
}

export type WorkerRequest =
  | { type: 'init'; config: WorkerConfig }
  /** buffers: two recycled ArrayBuffers of items.length·S²·4 bytes for the views, when the loader has them. */
  | { type: 'batch'; id: number; epoch: number; items: number[]; buffers?: ArrayBuffer[]; trace?: boolean };

/** A worker's decode or augment of one sample, on the trace clock (src/core/clock.ts), when asked. */
export interface WorkerSpan {
  name: 'load' | 'augment';
  beginUs: number;
  endUs: number;
  index: number;
  cacheHit?: boolean;
}

export interface BatchResult {
  type: 'batch';
  id: number;
  indices: number[];
  /** The normalised views, n·S² floats each (empty with deviceAugment). */
  view1: Float32Array;
  view2: Float32Array;
  /** deviceAugment: the n samples' preprocessed images as 16-bit words (n·S²), and each view's plan ([view][sample]). */
  words?: Uint16Array;
  plans?: [PlanStep[][], PlanStep[][]];
  skipped: { index: number; name: string; message: string }[];
  /** Load attempts that failed (known-bad files included), and those after the batch's last success. */
  failed: number;
  failedAfterLast: number;
  stats: { cacheHits: number; cacheMisses: number; loadMs: number; augmentMs: number };
  /** With trace: true in the request, each sample's load (cache read or decode) and augment. */
  trace?: WorkerSpan[];
}

export type WorkerReply = BatchResult | { type: 'ready' } | { type: 'fatal'; message: string } | { type: 'error'; id: number; message: string };
