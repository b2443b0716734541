// Dynamic loss scaling for float16 training, with torch.cuda.amp.GradScaler's rules: the loss is
// multiplied by the scale before backward, so that small gradients survive float16's range (smallest
// normal 6e-5); after backward the float32 master gradients are checked, and
//   - any inf/NaN: the step is skipped (no parameter or momentum changes), the scale halves;
//   - all finite: they are divided by the scale and the optimizer steps; after growthInterval clean
//     steps in a row the scale doubles.
// The scale starts at 2^16 and stays a power of two, so scaling and unscaling are exact. Its state
// (scale, clean steps) goes into the checkpoint, so a resumed run continues exactly.
import { noGrad, tidy } from '../core/engine.js';
import type { Tensor } from '../core/tensor.js';
import { add } from '../ops/add.js';
import { sum } from '../ops/reduce.js';
import { scale } from '../ops/scale.js';

export interface GradScalerState {
  scale: number;
  growthTracker: number;
}

export interface GradScalerOptions {
  initScale?: number;
  growthInterval?: number;
}

export class GradScaler {
  scale: number;
  /** Clean steps since the scale last changed. */
  growthTracker = 0;
  readonly growthInterval: number;
  static readonly growthFactor = 2;
  static readonly backoffFactor = 0.5;

  constructor(opts: GradScalerOptions = {}) {
    this.scale = opts.initScale ?? 2 ** 16;
    this.growthInterval = opts.growthInterval ?? 2000;
    if (!(this.scale > 0 && Number.isFinite(this.scale))) throw new RangeError(`GradScaler: initScale must be a positive finite number, got ${this.scale}`);
    if (!(Number.isInteger(this.growthInterval) && this.growthInterval >= 1)) throw new RangeError(`GradScaler: growthInterval must be a positive integer, got ${this.growthInterval}`);
  }

  /** loss · scale: what backward runs from. */
  scaleLoss(loss: Tensor): Tensor {
    return scale(loss, this.scale);
  }

  /**
   * After backward: true, with every gradient divided by the scale, when all are finite; false (the
   * step must be skipped) otherwise. One device reduction and one scalar read: a sum of finite fp32
   * gradients overflows only past 3e38, which is itself worth skipping.
   */
  async unscale(params: readonly Tensor[]): Promise<boolean> {
    const withGrad = params.filter((p) => p.grad);
    if (withGrad.length === 0) return true;
    const total = noGrad(() => tidy(() => withGrad.map((p) => sum(p.grad!)).reduce((a, b) => add(a, b))));
    const v = (await total.data())[0];
    total.dispose();
    if (!Number.isFinite(v)) return false;
    const inv = 1 / this.scale;
    noGrad(() => {
      for (const p of withGrad) {
        const g = p.grad!;
        p.grad = scale(g, inv);
        g.dispose();
      }
    });
    return true;
  }

  /** The scale after a step: halved after a skipped one, doubled after growthInterval clean ones. */
  update(finite: boolean): void {
    if (!finite) {
      this.scale *= GradScaler.backoffFactor;
      this.growthTracker = 0;
    } else if (++this.growthTracker >= this.growthInterval) {
      this.scale *= GradScaler.growthFactor;
      this.growthTracker = 0;
    }
  }

  state(): GradScalerState {
    return { scale: this.scale, growthTracker: this.growthTracker };
  }

  load(s: GradScalerState): void {
    if (!(typeof s?.scale === 'number' && s.scale > 0 && Number.isFinite(s.scale))) throw new RangeError(`GradScaler: a saved scale must be a positive finite number, got ${String(s?.scale)}`);
    if (!(Number.isInteger(s.growthTracker) && s.growthTracker >= 0 && s.growthTracker < this.growthInterval)) {
      throw new RangeError(`GradScaler: a saved growthTracker must be an integer in [0, ${this.growthInterval}), got ${String(s.growthTracker)}`);
    }
    this.scale = s.scale;
    this.growthTracker = s.growthTracker;
  }
}
