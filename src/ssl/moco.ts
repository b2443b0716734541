// MoCo v2 (+ IFA): a query encoder trained by SGD, a key encoder that follows it by momentum
// (k ← m·k + (1 − m)·q), a queue of K negative keys, InfoNCE at temperature T, and IFA terms whose P
// features come from the key encoder (no gradient).
//
// Shuffling BN: MoCo shuffles the key batch across GPUs so batch-norm statistics cannot leak which
// key matches which query. On one device we emulate it: the key batch is permuted at random, split
// into `bnGroups` groups that each run through the key encoder with their own statistics, and the
// results are put back in order. bnGroups = 1 is plain BN over the whole batch.
import { keep, noGrad, tidy } from '../core/engine.js';
import { Rng } from '../core/random.js';
import { randomNormal, tensor, type Tensor } from '../core/tensor.js';
import { offload } from '../core/offload.js';
import { DeferredInit } from '../nn/init.js';
import { ResNet50, type ResNet50Options } from '../nn/models/resnet50.js';
import { l2Normalize } from '../ops/l2normalize.js';
import { concat, slice } from '../ops/layout.js';
import { copyRowsInto, gatherRows } from '../ops/rows.js';
import { emaUpdate } from '../optim/kernels.js';
import type { GradScaler } from '../optim/grad-scaler.js';
import { SGD } from '../optim/sgd.js';
import { DEFAULT_IFA, combineLosses, infoNCE, validateIfaTerms, type IfaTerm } from './losses.js';

/** InfoNCE's temperature T unless MocoOptions.temperature says otherwise (MoCo v2). */
export const MOCO_TEMPERATURE = 0.2;

export interface MocoOptions {
  model?: ResNet50Options;
  queueSize?: number;
  momentum?: number;
  temperature?: number;
  ifa?: IfaTerm[];
  contrastiveWeight?: number;
  bnGroups?: number;
  seed?: number;
}

export interface StepLosses {
  loss: number;
  contrastive: number;
  ifa: number[];
  /** With a GradScaler (fp16): the scale this step's backward ran with, and whether its update was skipped (an inf/NaN gradient). */
  lossScale?: number;
  skipped?: boolean;
}

/**
 * The update after backward: the optimizer's step; with a scaler (fp16), the gradients unscaled and
 * checked first (one scalar read), the step skipped when one is not finite, and the scale updated.
 * Losses are reported unscaled either way.
 */
export async function updateAfterBackward(optimizer: SGD, scaler: GradScaler | undefined, losses: Promise<StepLosses>): Promise<StepLosses> {
  if (!scaler) return losses;
  const lossScale = scaler.scale;
  let finite: boolean;
  try {
    finite = await scaler.unscale(optimizer.params);
  } catch (e) {
    optimizer.zeroGrad();
    await losses.catch(() => {});
    throw e;
  }
  if (finite) optimizer.step();
  else optimizer.zeroGrad();
  scaler.update(finite);
  return { ...(await losses), lossScale, skipped: !finite };
}

export class MoCo {
  readonly encoderQ: ResNet50;
  readonly encoderK: ResNet50;
  readonly queue: Tensor;
  queuePtr = 0;
  readonly queueSize: number;
  readonly momentum: number;
  readonly temperature: number;
  readonly ifa: IfaTerm[];
  readonly contrastiveWeight: number;
  readonly bnGroups: number;
  rng: Rng;

  /**
   * Builds both encoders and the queue on the JS thread (seconds at full size, the event loop
   * blocked); `await MoCo.create(opts)` gives the same state without blocking. `built` is what
   * create() prepared off the thread.
   */
  constructor(opts: MocoOptions = {}, built?: { encoderQ: ResNet50; encoderK: ResNet50; queue: Float32Array }) {
    this.queueSize = opts.queueSize ?? 65536;
    this.momentum = opts.momentum ?? 0.999;
    this.temperature = opts.temperature ?? MOCO_TEMPERATURE;
    this.ifa = opts.ifa ?? DEFAULT_IFA;
    validateIfaTerms(this.ifa);
    this.contrastiveWeight = opts.contrastiveWeight ?? 1;
    this.bnGroups = opts.bnGroups ?? 1;
    this.rng = new Rng(opts.seed ?? 0);
    const model = MoCo.modelOptions(opts);
    this.encoderQ = built?.encoderQ ?? new ResNet50(model);
    this.encoderK = built?.encoderK ?? new ResNet50(model);
    // The key encoder starts as a copy of the query encoder (m = 0).
    emaUpdate(this.encoderK.parameters(), this.encoderQ.parameters(), 0);
    for (const p of this.encoderK.parameters()) p.requiresGrad = false;
    const [n, dim] = MoCo.queueShape(this.queueSize, this.encoderQ);
    // MoCo: a random queue, normalised per key.
    const seed = MoCo.queueSeed(opts);
    this.queue = tidy(() =>
      keep(l2Normalize(built ? tensor(built.queue, [n, dim], { backend: model.backend }) : randomNormal([n, dim], { seed, backend: model.backend }))),
    );
  }

  /**
   * The model of `new MoCo(opts)`, the same weights and queue bit for bit, with the random draws on
   * a helper thread (the key encoder is not drawn at all: it starts as a copy of the query encoder).
   */
  static async create(opts: MocoOptions = {}): Promise<MoCo> {
    validateIfaTerms(opts.ifa ?? DEFAULT_IFA);
    const model = MoCo.modelOptions(opts);
    const encoderQ = await ResNet50.create(model);
    let encoderK: ResNet50 | undefined;
    try {
      encoderK = new ResNet50(model, new DeferredInit());
      const [n, dim] = MoCo.queueShape(opts.queueSize ?? 65536, encoderQ);
      // randomNormal's values: mean 0 + std 1 · N(0, 1), from Rng(seed).
      const [queue] = await offload('drawInit', { seed: MoCo.queueSeed(opts), plan: [{ kind: 'normal', n: n * dim, scale: 1 }] });
      return new MoCo(opts, { encoderQ, encoderK, queue });
    } catch (e) {
      encoderQ.dispose();
      encoderK?.dispose();
      throw e;
    }
  }

  private static modelOptions(opts: MocoOptions): ResNet50Options {
    return { head: 'mlp' as const, ...opts.model, seed: opts.model?.seed ?? opts.seed ?? 0 };
  }
  private static queueSeed(opts: MocoOptions): number {
    return (opts.seed ?? 0) + 7919;
  }
  private static queueShape(queueSize: number, encoder: ResNet50): [number, number] {
    return [queueSize, encoder.options.head === 'none' ? encoder.options.width * 32 : encoder.options.dim];
  }

  private keyForward(x2: Tensor, taps: number[]): { k: Tensor; kTaps: Tensor[] } {
    const n = x2.shape[0];
    const groups = this.bnGroups;
    if (groups <= 1) {
      const r = this.encoderK.forwardWithTaps(x2, taps);
      return { k: l2Normalize(r.out), kTaps: r.taps };
    }
    if (n % groups !== 0) throw new RangeError(`MoCo: batch ${n} is not divisible by bnGroups ${groups}`);
    const perm = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.rng.uniform() * (i + 1));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    const inverse = new Array<number>(n);
    perm.forEach((src, i) => (inverse[src] = i));
    const shuffled = gatherRows(x2, perm);
    const size = n / groups;
    const outs: { out: Tensor; taps: Tensor[] }[] = [];
    for (let g = 0; g < groups; g++) outs.push(this.encoderK.forwardWithTaps(slice(shuffled, 0, g * size, (g + 1) * size), taps));
    const k = gatherRows(concat(outs.map((o) => o.out), 0), inverse);
    const kTaps = taps.map((_, i) => gatherRows(concat(outs.map((o) => o.taps[i]), 0), inverse));
    return { k: l2Normalize(k), kTaps };
  }

  /** One training step on a batch of two views ([N,S,S,C] each). Returns the loss parts. A scaler (fp16) scales the loss for backward and may skip the update. */
  step(x1: Tensor, x2: Tensor, optimizer: SGD, scaler?: GradScaler): Promise<StepLosses> {
    const n = x1.shape[0];
    if (this.queueSize % n !== 0) throw new RangeError(`MoCo: queue size ${this.queueSize} must be a multiple of the batch ${n}`);
    this.encoderQ.train();
    this.encoderK.train();
    const taps = this.ifa.map((t) => t.block);
    const parts = tidy(() => {
      const q = this.encoderQ.forwardWithTaps(x1, taps);
      const qn = l2Normalize(q.out);
      const key = noGrad(() => {
        emaUpdate(this.encoderK.parameters(), this.encoderQ.parameters(), this.momentum);
        return this.keyForward(x2, taps);
      });
      const contrastive = infoNCE(qn, key.k, this.queue, this.temperature);
      const l = combineLosses(contrastive, q.taps, key.kTaps, this.ifa, this.contrastiveWeight);
      (scaler ? scaler.scaleLoss(l.total) : l.total).backward();
      if (!scaler) optimizer.step();
      // Enqueue after backward: the gradient used the queue as it was for the logits.
      copyRowsInto(this.queue, key.k, this.queuePtr);
      return [l.total, l.contrastive, ...l.ifa].map((t) => keep(t.detach()));
    });
    this.queuePtr = (this.queuePtr + n) % this.queueSize;
    return updateAfterBackward(optimizer, scaler, readLosses(parts));
  }

  /**
   * Fills the next rows of the queue with keys of a batch, without training (an option for short
   * runs: a queue of real keys from the start instead of random vectors, so the contrastive loss
   * starts near chance, ln(K + 1), rather than rising towards it while the queue fills).
   */
  enqueueKeys(x2: Tensor): void {
    const n = x2.shape[0];
    if (this.queueSize % n !== 0) throw new RangeError(`MoCo: queue size ${this.queueSize} must be a multiple of the batch ${n}`);
    this.encoderK.train();
    tidy(() =>
      noGrad(() => {
        const { k } = this.keyForward(x2, []);
        copyRowsInto(this.queue, k, this.queuePtr);
      }),
    );
    this.queuePtr = (this.queuePtr + n) % this.queueSize;
  }

  dispose(): void {
    this.encoderQ.dispose();
    this.encoderK.dispose();
    this.queue.dispose();
  }
}

export async function readLosses(parts: Tensor[]): Promise<StepLosses> {
  const values = await Promise.all(parts.map((t) => t.data()));
  for (const t of parts) t.dispose();
  return { loss: values[0][0], contrastive: values[1][0], ifa: values.slice(2).map((v) => v[0]) };
}
