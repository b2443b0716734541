// Optimizer updates as multi-tensor in-place kernels: sgdStep is torch.optim.SGD's step for a
// group of parameters, emaUpdate MoCo's momentum-encoder update. Neither is recorded for autograd.
// The addon takes at most 1024 tensors per list, so groups are launched in chunks of 512 parameters
// (sgd: params then momenta as outputs) or 1024 targets (ema): ResNet-50 is one launch each.
// Both are float32 only: in mixed precision the parameters they update are the float32 masters.
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { checkTensor, expectFloat32, launchInPlace } from '../ops/op.js';

export interface SgdStepOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
  dampening?: number;
  nesterov?: boolean;
  /** True on the first step: the momentum buffers are set to the gradient (PyTorch's clone). */
  firstStep: boolean;
}

function tensorList(v: unknown, op: string, what: string): Tensor[] {
  if (!Array.isArray(v)) throw new TypeError(`${op}: ${what} must be an array of tensors`);
  return v.map((t, i) => {
    const x = checkTensor(t, op, `${what}[${i}]`);
    expectFloat32(op, x, `${what}[${i}]`);
    return x;
  });
}

function finite(v: unknown, fallback: number | undefined, op: string, what: string): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${op}: ${what} must be a finite number, got ${String(v)}`);
  return v;
}

function expectPaired(op: string, a: Tensor[], b: Tensor[], an: string, bn: string): void {
  if (a.length !== b.length) throw new RangeError(`${op}: ${a.length} ${an} but ${b.length} ${bn}`);
  a.forEach((t, i) => {
    const u = b[i];
    if (t.rank !== u.rank || t.shape.some((d, k) => d !== u.shape[k])) {
      throw new RangeError(`${op}: ${an}[${i}] ${formatShape(t.shape)} and ${bn}[${i}] ${formatShape(u.shape)} differ in shape`);
    }
  });
}

/**
 * One SGD step in place: d = g + weightDecay·p; with momentum, buf = momentum·buf + (1 − dampening)·d
 * (buf = d on the first step) and d = nesterov ? d + momentum·buf : buf; then p −= lr·d.
 * momenta may be empty when momentum is 0.
 */
export function sgdStep(paramsIn: Tensor[], gradsIn: Tensor[], momentaIn: Tensor[], opts: SgdStepOptions): void {
  const op = 'sgdStep';
  const params = tensorList(paramsIn, op, 'params');
  const grads = tensorList(gradsIn, op, 'grads');
  const momenta = tensorList(momentaIn, op, 'momenta');
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${op}: options must be an object`);
  const lr = finite(opts.lr, undefined, op, 'lr');
  const momentum = finite(opts.momentum, 0.9, op, 'momentum');
  const weightDecay = finite(opts.weightDecay, 0, op, 'weightDecay');
  const dampening = finite(opts.dampening, 0, op, 'dampening');
  const nesterov = opts.nesterov ?? false;
  if (typeof nesterov !== 'boolean') throw new TypeError(`${op}: nesterov must be a boolean`);
  if (typeof opts.firstStep !== 'boolean') throw new TypeError(`${op}: firstStep must be a boolean (true on the first step)`);
  if (momentum < 0) throw new RangeError(`${op}: momentum must be >= 0, got ${momentum}`);
  if (nesterov && (momentum <= 0 || dampening !== 0)) throw new RangeError(`${op}: nesterov momentum requires momentum > 0 and dampening = 0`);
  expectPaired(op, params, grads, 'params', 'grads');
  const withBuffers = momenta.length > 0;
  if (withBuffers) expectPaired(op, params, momenta, 'params', 'momenta');
  else if (momentum !== 0) throw new RangeError(`${op}: momentum ${momentum} needs one momentum buffer per parameter`);
  const attrs = { lr, momentum, weightDecay, dampening, nesterov, firstStep: opts.firstStep };
  const chunk = 512;
  for (let i = 0; i < params.length; i += chunk) {
    const outputs = [...params.slice(i, i + chunk), ...(withBuffers ? momenta.slice(i, i + chunk) : [])];
    launchInPlace({ op, kernel: 'sgd', inputs: grads.slice(i, i + chunk), outputs, attrs });
  }
}

/** MoCo's momentum update in place: target = m·target + (1 − m)·source. */
export function emaUpdate(targetsIn: Tensor[], sourcesIn: Tensor[], m: number): void {
  const op = 'emaUpdate';
  const targets = tensorList(targetsIn, op, 'targets');
  const sources = tensorList(sourcesIn, op, 'sources');
  if (typeof m !== 'number' || !(m >= 0 && m <= 1)) throw new RangeError(`${op}: m must be a number in [0, 1], got ${String(m)}`);
  expectPaired(op, targets, sources, 'targets', 'sources');
  const chunk = 1024;
  for (let i = 0; i < targets.length; i += chunk) {
    launchInPlace({ op, kernel: 'ema', inputs: sources.slice(i, i + chunk), outputs: targets.slice(i, i + chunk), attrs: { m } });
  }
}
