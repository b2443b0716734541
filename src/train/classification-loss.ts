// The downstream losses, on the host: a classifier's logits are small (batch × classes), so they are
// read back once per step and the loss and its gradient computed here in float64; the gradient goes
// back into the graph with backward(logits, grad). Every backend then shares one implementation.
// Semantics are PyTorch's BCEWithLogitsLoss(pos_weight) and CrossEntropyLoss(weight), mean reduction.

export interface LossAndGrad {
  loss: number;
  /** d loss / d logits, the logits' shape. */
  grad: Float32Array;
}

/** log(1 + e^x) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/**
 * Mean of −[w_c·y·log σ(x) + (1 − y)·log(1 − σ(x))] over the unmasked entries of an N×C logit
 * matrix (mask 0 = the label does not count: an uncertain label under 'ignore'). Without a mask
 * this is BCEWithLogitsLoss(pos_weight = w); with one, the mean runs over the counted entries only.
 * All entries masked: loss 0, gradient 0.
 */
export function bceWithLogits(logits: ArrayLike<number>, targets: ArrayLike<number>, classes: number, mask?: ArrayLike<number> | null, posWeight?: ArrayLike<number> | null): LossAndGrad {
  const n = logits.length;
  if (targets.length !== n) throw new RangeError(`bceWithLogits: ${targets.length} targets for ${n} logits`);
  if (mask && mask.length !== n) throw new RangeError(`bceWithLogits: mask has ${mask.length} entries for ${n} logits`);
  if (posWeight && posWeight.length !== classes) throw new RangeError(`bceWithLogits: pos_weight has ${posWeight.length} entries for ${classes} classes`);
  let count = 0;
  for (let i = 0; i < n; i++) if (!mask || mask[i]) count++;
  const grad = new Float32Array(n);
  if (count === 0) return { loss: 0, grad };
  let loss = 0;
  for (let i = 0; i < n; i++) {
    if (mask && !mask[i]) continue;
    const x = logits[i], y = targets[i], w = posWeight ? posWeight[i % classes] : 1;
    loss += w * y * softplus(-x) + (1 - y) * softplus(x);
    const s = sigmoid(x);
    grad[i] = (-w * y * (1 - s) + (1 - y) * s) / count;
  }
  return { loss: loss / count, grad };
}

/**
 * Cross-entropy of N×K logits against class indices, weighted like CrossEntropyLoss(weight):
 * Σ w[y_i]·(−log softmax(x_i)[y_i]) / Σ w[y_i].
 */
export function crossEntropy(logits: ArrayLike<number>, labels: ArrayLike<number>, classes: number, weight?: ArrayLike<number> | null): LossAndGrad {
  const N = labels.length, K = classes;
  if (logits.length !== N * K) throw new RangeError(`crossEntropy: ${logits.length} logits for ${N} labels × ${K} classes`);
  if (weight && weight.length !== K) throw new RangeError(`crossEntropy: weight has ${weight.length} entries for ${K} classes`);
  const grad = new Float32Array(N * K);
  let loss = 0, total = 0;
  const p = new Float64Array(K);
  for (let i = 0; i < N; i++) {
    const y = labels[i];
    if (!(Number.isInteger(y) && y >= 0 && y < K)) throw new RangeError(`crossEntropy: label ${y} of row ${i} is not a class index in [0, ${K})`);
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, logits[i * K + k]);
    let z = 0;
    for (let k = 0; k < K; k++) z += p[k] = Math.exp(logits[i * K + k] - max);
    const w = weight ? weight[y] : 1;
    loss += w * (Math.log(z) + max - logits[i * K + y]);
    total += w;
    for (let k = 0; k < K; k++) grad[i * K + k] = w * (p[k] / z - (k === y ? 1 : 0));
  }
  if (total === 0) return { loss: 0, grad: grad.fill(0) };
  for (let i = 0; i < grad.length; i++) grad[i] /= total;
  return { loss: loss / total, grad };
}

/**
 * torch.optim.lr_scheduler.ReduceLROnPlateau in mode 'min' with threshold 1e-4 'rel', cooldown 0,
 * min_lr 0: after more than `patience` epochs without a relative improvement of the metric, the
 * learning rate is multiplied by `factor`.
 */
export class ReduceLROnPlateau {
  best = Infinity;
  badEpochs = 0;
  constructor(
    public lr: number,
    readonly factor = 0.5,
    readonly patience = 10,
    readonly threshold = 1e-4,
  ) {}

  /** Feeds an epoch's metric; returns the learning rate for the next epoch. */
  step(metric: number): number {
    if (metric < this.best * (1 - this.threshold)) {
      this.best = metric;
      this.badEpochs = 0;
    } else this.badEpochs++;
    if (this.badEpochs > this.patience) {
      const next = this.lr * this.factor;
      if (this.lr - next > 1e-8) this.lr = next;
      this.badEpochs = 0;
    }
    return this.lr;
  }

  state(): { lr: number; best: number | null; badEpochs: number } {
    return { lr: this.lr, best: Number.isFinite(this.best) ? this.best : null, badEpochs: this.badEpochs };
  }

  static fromState(s: { lr: number; best: number | null; badEpochs: number }, factor: number, patience: number): ReduceLROnPlateau {
    const r = new ReduceLROnPlateau(s.lr, factor, patience);
    r.best = s.best ?? Infinity;
    r.badEpochs = s.badEpochs;
    return r;
  }
}
