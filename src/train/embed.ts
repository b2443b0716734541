// Features of a dataset's images from a ResNet-50 in eval mode: no augmentation, in order, each
// unreadable image skipped (named by the loader's warning) rather than substituted.
import type { BackendName } from '../backends/backend.js';
import { noGrad } from '../core/engine.js';
import type { Dataset } from '../data/datasets.js';
import { CxrLoader } from '../data/loader.js';
import type { ResNet50 } from '../nn/models/resnet50.js';

export interface EmbedOptions {
  imageSize?: number;
  batch?: number;
  /** 'pool': the 2048-d pooled features (default); 'out': the model's output (a classifier's logits). */
  layer?: 'pool' | 'out';
  workers?: number;
  backend?: BackendName;
  onWarning?: (s: string) => void;
}

export interface Embedding {
  /** [n, dim] row-major: one row per readable image. */
  features: Float32Array;
  dim: number;
  /** Dataset index of each row (unreadable images are skipped, not substituted). */
  indices: number[];
  /** Paths of the images that could not be read. */
  skipped: string[];
}

/** Runs the model in eval mode over a dataset's images (no augmentation, in order). */
export async function embed(model: ResNet50, set: Dataset, opts: EmbedOptions = {}): Promise<Embedding> {
  const loader = new CxrLoader(set, {
    batchSize: opts.batch ?? 16,
    imageSize: opts.imageSize ?? 512,
    augmentations: 'none',
    shuffle: false,
    dropLast: false,
    maxSubstitutes: 0,
    minBatch: 1,
    maxConsecutiveUnreadable: Number.MAX_SAFE_INTEGER,
    workers: opts.workers,
    backend: opts.backend,
    onWarning: opts.onWarning,
  });
  const wasTraining = model.training;
  model.eval();
  const rows: Float32Array[] = [];
  const indices: number[] = [];
  let dim = 0;
  try {
    for await (const b of loader.epoch(0)) {
      b.view2.dispose();
      b.labels?.dispose();
      const out = noGrad(() => model.forwardWithTaps(b.view1));
      const t = opts.layer === 'out' ? out.out : out.pooled;
      const v = await t.data();
      for (const x of new Set([b.view1, out.pooled, out.out])) x.dispose();
      dim = v.length / b.indices.length;
      rows.push(v);
      indices.push(...b.indices);
    }
  } finally {
    model.train(wasTraining);
    await loader.close();
  }
  const features = new Float32Array(indices.length * dim);
  let off = 0;
  for (const r of rows) {
    features.set(r, off);
    off += r.length;
  }
  return { features, dim, indices, skipped: [...loader.stats.skippedFiles] };
}

