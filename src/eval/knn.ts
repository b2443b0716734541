// The kNN monitor of pretraining (as the MoCo colab and lightly do): embed a small labelled set
// with the query encoder, then classify each image by its k nearest others (cosine similarity of the
// pooled features), each neighbour's vote weighted by exp(sim / T). Two folds (even and odd rows):
// each image is scored against the other fold as its memory bank, as the colab scores its test set
// against the training set. (Leave-one-out is biased here: with k near n, removing an image's own
// label from the votes pushes its score away from its label, and the AUC below 0.5.) Multiclass: the
// accuracy of the top-scoring class; multilabel: per class, the AUC of the weighted share of positive
// neighbours (undefined where the set has no positives or no negatives of the class).
import type { LabelledImages } from '../data/labelled.js';
import type { ResNet50 } from '../nn/models/resnet50.js';
import { embed, type EmbedOptions } from '../train/embed.js';
import { rocAuc } from './metrics.js';

export const KNN_DEFAULTS = Object.freeze({ k: 200, temperature: 0.1 });

export interface KnnResult {
  /** Neighbours used (at most the other fold's size). */
  k: number;
  n: number;
  /** Multiclass. */
  accuracy?: number;
  /** Multilabel: per-class AUC (null: undefined for that class) and their mean over defined classes. */
  auc?: Record<string, number | null>;
  meanAuc?: number;
}

/**
 * Two-fold weighted kNN on feature rows (row r: image `indices[r]` of `set`, in fold r mod 2).
 */
export function knnTwoFold(features: Float32Array, dim: number, indices: readonly number[], set: LabelledImages, opts: { k?: number; temperature?: number } = {}): KnnResult {
  const n = indices.length;
  const T = opts.temperature ?? KNN_DEFAULTS.temperature;
  const k = Math.min(opts.k ?? KNN_DEFAULTS.k, Math.floor(n / 2));
  if (n < 2) throw new RangeError(`kNN: needs at least 2 readable images, got ${n}`);
  if (!(T > 0)) throw new RangeError(`kNN: temperature must be positive, got ${T}`);
  // Unit rows (a zero row stays zero: similarity 0 to everything).
  const f = new Float32Array(n * dim);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += features[r * dim + d] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < dim; d++) f[r * dim + d] = features[r * dim + d] * inv;
  }
  const C = set.classes.length;
  const votes = new Float64Array(n * C);
  const weightSum = new Float64Array(n * C);
  const sim = new Float64Array(n);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += f[i * dim + d] * f[j * dim + d];
      sim[j] = s;
      order[j] = j;
    }
    const bank = Array.from(order).filter((j) => j % 2 !== i % 2);
    const top = bank.sort((a, b) => sim[b] - sim[a] || a - b).slice(0, k);
    for (const j of top) {
      const w = Math.exp(sim[j] / T);
      const idx = indices[j];
      if (set.task === 'multiclass') votes[i * C + set.targets[idx]] += w;
      else {
        for (let c = 0; c < C; c++) {
          if (set.mask && !set.mask[idx * C + c]) continue;
          votes[i * C + c] += w * set.targets[idx * C + c];
          weightSum[i * C + c] += w;
        }
      }
    }
  }
  if (set.task === 'multiclass') {
    let right = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < C; c++) if (votes[i * C + c] > votes[i * C + best]) best = c;
      if (best === set.targets[indices[i]]) right++;
    }
    return { k, n, accuracy: right / n };
  }
  const auc: Record<string, number | null> = {};
  const defined: number[] = [];
  set.classes.forEach((name, c) => {
    const s: number[] = [], y: number[] = [];
    for (let i = 0; i < n; i++) {
      const idx = indices[i];
      if (set.mask && !set.mask[idx * C + c]) continue;
      s.push(weightSum[i * C + c] > 0 ? votes[i * C + c] / weightSum[i * C + c] : 0);
      y.push(set.targets[idx * C + c]);
    }
    const a = rocAuc(s, y);
    auc[name] = Number.isFinite(a) ? a : null;
    if (Number.isFinite(a)) defined.push(a);
  });
  return { k, n, auc, meanAuc: defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : NaN };
}

/** Embeds `set` with `encoder` (eval mode, then back) and runs knnTwoFold on the pooled features. */
export async function knnMonitor(encoder: ResNet50, set: LabelledImages, opts: EmbedOptions & { k?: number; temperature?: number } = {}): Promise<KnnResult> {
  const e = await embed(encoder, set, { ...opts, layer: 'pool' });
  return knnTwoFold(e.features, e.dim, e.indices, set, opts);
}
