// SimCLR (+ IFA): both views through one encoder and projection head, NT-Xent at temperature T, and
// IFA terms between the two views' stage features with gradient to both.
import { keep, tidy } from '../core/engine.js';
import type { Tensor } from '../core/tensor.js';
import { ResNet50, type ResNet50Options } from '../nn/models/resnet50.js';
import { l2Normalize } from '../ops/l2normalize.js';
import type { GradScaler } from '../optim/grad-scaler.js';
import { SGD } from '../optim/sgd.js';
import { DEFAULT_IFA, combineLosses, ntXent, validateIfaTerms, type IfaTerm } from './losses.js';
import { readLosses, updateAfterBackward, type StepLosses } from './moco.js';

/** NT-Xent's temperature unless SimclrOptions.temperature says otherwise. */
export const SIMCLR_TEMPERATURE = 0.1;

export interface SimclrOptions {
  model?: ResNet50Options;
  temperature?: number;
  ifa?: IfaTerm[];
  contrastiveWeight?: number;
  seed?: number;
}

export class SimCLR {
  readonly encoder: ResNet50;
  readonly temperature: number;
  readonly ifa: IfaTerm[];
  readonly contrastiveWeight: number;

  /** Draws the encoder's weights on the JS thread; `await SimCLR.create(opts)` does it off the thread (same values). */
  constructor(opts: SimclrOptions = {}, encoder?: ResNet50) {
    this.temperature = opts.temperature ?? SIMCLR_TEMPERATURE;
    this.ifa = opts.ifa ?? DEFAULT_IFA;
    validateIfaTerms(this.ifa);
    this.contrastiveWeight = opts.contrastiveWeight ?? 1;
    this.encoder = encoder ?? new ResNet50(SimCLR.modelOptions(opts));
  }

  /** The model of `new SimCLR(opts)`, its weights drawn on a helper thread. */
  static async create(opts: SimclrOptions = {}): Promise<SimCLR> {
    validateIfaTerms(opts.ifa ?? DEFAULT_IFA);
    return new SimCLR(opts, await ResNet50.create(SimCLR.modelOptions(opts)));
  }

  private static modelOptions(opts: SimclrOptions): ResNet50Options {
    return { head: 'mlp', ...opts.model, seed: opts.model?.seed ?? opts.seed ?? 0 };
  }

  /** One training step; a scaler (fp16) scales the loss for backward and may skip the update. */
  step(x1: Tensor, x2: Tensor, optimizer: SGD, scaler?: GradScaler): Promise<StepLosses> {
    this.encoder.train();
    const taps = this.ifa.map((t) => t.block);
    const parts = tidy(() => {
      const a = this.encoder.forwardWithTaps(x1, taps);
      const b = this.encoder.forwardWithTaps(x2, taps);
      const contrastive = ntXent(l2Normalize(a.out), l2Normalize(b.out), this.temperature);
      const l = combineLosses(contrastive, a.taps, b.taps, this.ifa, this.contrastiveWeight);
      (scaler ? scaler.scaleLoss(l.total) : l.total).backward();
      if (!scaler) optimizer.step();
      return [l.total, l.contrastive, ...l.ifa].map((t) => keep(t.detach()));
    });
    return updateAfterBackward(optimizer, scaler, readLosses(parts));
  }

  dispose(): void {
    this.encoder.dispose();
  }
}
