// Contrastive losses and the IFA terms.
//   InfoNCE (MoCo): logits = [q·k⁺, q·queueᵀ] / T, cross-entropy with the positive at index 0.
//   NT-Xent (SimCLR): z = [z1; z2], logits = z·zᵀ / T with the diagonal masked out, positive of row i
//   is row i ± N.
//   IFA: Σ weight · ifaLoss(Q_block, P_block, target) over the configured terms.
import { tensor, type Tensor } from '../core/tensor.js';
import { add } from '../ops/add.js';
import { ifaLoss } from '../ops/ifa.js';
import { concat } from '../ops/layout.js';
import { softmaxCrossEntropy } from '../ops/loss.js';
import { matmul } from '../ops/matmul.js';
import { mul } from '../ops/mul.js';
import { sum } from '../ops/reduce.js';
import { scale } from '../ops/scale.js';

export interface IfaTerm {
  /** ResNet stage whose output is approximated (1–4). */
  block: number;
  /** The cosine similarity the term pulls towards (1 by default; the public code also uses 0.3 on block 1). */
  target: number;
  weight: number;
}

export const DEFAULT_IFA: IfaTerm[] = [{ block: 3, target: 1, weight: 1 }];

/** q, k: [N, d] (l2-normalised), queue: [K, d]. Returns the mean InfoNCE loss. */
export function infoNCE(q: Tensor, k: Tensor, queue: Tensor, temperature: number): Tensor {
  const n = q.shape[0];
  const pos = sum(mul(q, k), { axes: 1, keepDims: true });
  const neg = matmul(q, queue, { transposeB: true });
  const logits = scale(concat([pos, neg], 1), 1 / temperature);
  const labels = tensor(new Float32Array(n), [n], { backend: q.backend });
  return softmaxCrossEntropy(logits, labels);
}

/** z1, z2: [N, d] (l2-normalised) projections of the two views. Returns the mean NT-Xent loss. */
export function ntXent(z1: Tensor, z2: Tensor, temperature: number): Tensor {
  const n = z1.shape[0];
  const z = concat([z1, z2], 0);
  const sim = scale(matmul(z, z, { transposeB: true }), 1 / temperature);
  const maskValues = new Float32Array(4 * n * n);
  for (let i = 0; i < 2 * n; i++) maskValues[i * 2 * n + i] = -1e9;
  const masked = add(sim, tensor(maskValues, [2 * n, 2 * n], { backend: z1.backend }));
  const labels = Float32Array.from({ length: 2 * n }, (_, i) => (i < n ? i + n : i - n));
  return softmaxCrossEntropy(masked, tensor(labels, [2 * n], { backend: z1.backend }));
}

export interface LossParts {
  total: Tensor;
  contrastive: Tensor;
  ifa: Tensor[];
}

/**
 * total = λ_c·contrastive + Σ λ_i·IFA_i; q/p taps are indexed like `terms`. total.backward() gives
 * IFA_i the upstream gradient λ_i (add passes the seed 1 through, scale multiplies it by λ_i), which
 * each ifaLoss is told (gradScale), so it computes its gradients in its forward pass.
 */
export function combineLosses(contrastive: Tensor, qTaps: Tensor[], pTaps: Tensor[], terms: IfaTerm[], contrastiveWeight: number): LossParts {
  const ifa = terms.map((t, i) => ifaLoss(qTaps[i], pTaps[i], { target: t.target, gradScale: t.weight }));
  let total = contrastiveWeight === 1 ? contrastive : scale(contrastive, contrastiveWeight);
  ifa.forEach((l, i) => {
    total = add(total, terms[i].weight === 1 ? l : scale(l, terms[i].weight));
  });
  return { total, contrastive, ifa };
}

export function validateIfaTerms(terms: IfaTerm[]): void {
  for (const t of terms) {
    if (!Number.isInteger(t.block) || t.block < 1 || t.block > 4) throw new RangeError(`ifa: block ${t.block} must be an integer in 1–4`);
    if (!Number.isFinite(t.target) || t.target < -1 || t.target > 1) throw new RangeError(`ifa: target ${t.target} must be in [−1, 1]`);
    if (!Number.isFinite(t.weight) || t.weight < 0) throw new RangeError(`ifa: weight ${t.weight} must be ≥ 0`);
  }
}
