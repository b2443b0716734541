// Where layers get their initial weights. RngInit draws them at once from an Rng, in construction
// order (what `new ResNet50()` does). DeferredInit gives the layers zero tensors and records each
// draw (kind, count, scale) in that same order; fill() then draws the whole plan from a fresh
// Rng(seed) on the helper thread and writes the values in, so a model built this way
// (ResNet50.create) holds bit-for-bit the values of the synchronous constructor without blocking the
// event loop. Both paths call the same draw functions below.
import type { BackendName } from '../backends/backend.js';
import { offload, pacer } from '../core/offload.js';
import { Rng } from '../core/random.js';
import { tensor, zeros, type Tensor } from '../core/tensor.js';
import { writeInto } from './module.js';

/** One draw of a plan: n values of scale·N(0,1) ('normal') or scale·U(−1, 1) ('uniform'). */
export interface InitRequest {
  kind: 'normal' | 'uniform';
  n: number;
  scale: number;
}

export interface WeightInit {
  /** A tensor of std·N(0, 1) values (torchvision's kaiming_normal_ when std is the He std). */
  normal(shape: number[], std: number, backend?: BackendName): Tensor;
  /** A tensor of U(−bound, bound) values (PyTorch's default Linear init when bound = 1/√fan_in). */
  uniform(shape: number[], bound: number, backend?: BackendName): Tensor;
}

export function draw(rng: Rng, req: InitRequest): Float32Array {
  const v = new Float32Array(req.n);
  const s = req.scale;
  if (req.kind === 'normal') for (let i = 0; i < v.length; i++) v[i] = s * rng.normal();
  else for (let i = 0; i < v.length; i++) v[i] = (2 * rng.uniform() - 1) * s;
  return v;
}

/** Every request of a plan, drawn in order from one Rng(seed). */
export function drawPlan(seed: number, plan: InitRequest[]): Float32Array[] {
  const rng = new Rng(seed);
  return plan.map((r) => draw(rng, r));
}

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export class RngInit implements WeightInit {
  constructor(readonly rng: Rng) {}
  normal(shape: number[], std: number, backend?: BackendName): Tensor {
    return tensor(draw(this.rng, { kind: 'normal', n: count(shape), scale: std }), shape, { backend });
  }
  uniform(shape: number[], bound: number, backend?: BackendName): Tensor {
    return tensor(draw(this.rng, { kind: 'uniform', n: count(shape), scale: bound }), shape, { backend });
  }
}

export class DeferredInit implements WeightInit {
  readonly plan: InitRequest[] = [];
  private readonly targets: Tensor[] = [];
  normal(shape: number[], std: number, backend?: BackendName): Tensor {
    return this.record(shape, { kind: 'normal', n: count(shape), scale: std }, backend);
  }
  uniform(shape: number[], bound: number, backend?: BackendName): Tensor {
    return this.record(shape, { kind: 'uniform', n: count(shape), scale: bound }, backend);
  }
  private record(shape: number[], req: InitRequest, backend?: BackendName): Tensor {
    const t = zeros(shape, { backend });
    this.plan.push(req);
    this.targets.push(t);
    return t;
  }
  /** Draws the plan from Rng(seed) off the JS thread and writes each tensor's values. */
  async fill(seed: number): Promise<void> {
    new Rng(seed); // a bad seed fails here, as in the synchronous constructor
    const values = await offload('drawInit', { seed, plan: this.plan });
    const pace = pacer(); // each write copies its values on the JS thread
    for (let i = 0; i < values.length; i++) {
      writeInto(this.targets[i], values[i]);
      await pace(values[i].length);
    }
  }
}

