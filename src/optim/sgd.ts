// SGD with momentum and weight decay (PyTorch semantics), applied by one multi-tensor kernel launch
// per step, and the learning-rate schedules of the method: lr scaled by batch/256, linear warmup, then
// per-step cosine decay.
import type { Tensor } from '../core/tensor.js';
import { zeros } from '../core/tensor.js';
import { sgdStep } from './kernels.js';

export interface SgdOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  dampening?: number;
}

export class SGD {
  readonly params: Tensor[];
  readonly momenta: Tensor[];
  stepCount = 0;
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  readonly dampening: number;

  constructor(params: Tensor[], opts: SgdOptions) {
    if (!(opts.lr >= 0)) throw new RangeError(`SGD: lr must be ≥ 0, got ${opts.lr}`);
    this.params = params;
    this.lr = opts.lr;
    this.momentum = opts.momentum ?? 0.9;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.dampening = opts.dampening ?? 0;
    this.momenta = params.map((p) => zeros(p.shape, { backend: p.backend }));
  }

  /** Updates every parameter that has a gradient, in place; then clears the gradients. */
  step(): void {
    const withGrad = this.params.map((p, i) => [p, this.momenta[i]] as const).filter(([p]) => p.grad);
    if (withGrad.length) {
      sgdStep(
        withGrad.map(([p]) => p),
        withGrad.map(([p]) => p.grad!),
        withGrad.map(([, m]) => m),
        { lr: this.lr, momentum: this.momentum, weightDecay: this.weightDecay, dampening: this.dampening, nesterov: this.nesterov, firstStep: this.stepCount === 0 },
      );
    }
    this.stepCount++;
    this.zeroGrad();
  }

  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  dispose(): void {
    this.zeroGrad();
    for (const m of this.momenta) m.dispose();
  }
}

export interface ScheduleOptions {
  /** Learning rate for a batch of 256 (scaled linearly with the batch). */
  baseLr: number;
  batch: number;
  totalSteps: number;
  warmupSteps?: number;
  /** 'cosine' (default) or 'constant'. */
  kind?: 'cosine' | 'constant';
}

/** The learning rate at `step` (0-based): linear warmup, then cosine decay to 0 over the rest. */
export function learningRate(step: number, o: ScheduleOptions): number {
  const peak = (o.baseLr * o.batch) / 256;
  const warm = o.warmupSteps ?? 0;
  if (step < warm) return (peak * (step + 1)) / warm;
  if ((o.kind ?? 'cosine') === 'constant') return peak;
  const span = Math.max(1, o.totalSteps - warm);
  const t = Math.min(1, (step - warm) / span);
  return 0.5 * peak * (1 + Math.cos(Math.PI * t));
}
