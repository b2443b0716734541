// l2Normalize(x[..., D], {eps = 1e-12}): each row along the last axis divided by max(‖row‖₂, eps),
// as torch.nn.functional.normalize(x, dim=-1). Gradient by l2NormalizeBackward (rows whose norm is
// below eps were divided by the constant eps).
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { gradIn } from './cast.js';
import { checkTensor, launch, record } from './op.js';
import { registerOp } from './registry.js';

export interface L2NormalizeOptions {
  eps?: number;
}

export function l2Normalize(xIn: Tensor, opts: L2NormalizeOptions = {}): Tensor {
  const op = 'l2Normalize';
  const x = checkTensor(xIn, op, 'x');
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${op}: options must be an object`);
  const eps = opts.eps ?? 1e-12;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw new RangeError(`${op}: eps must be a finite number >= 0, got ${String(eps)}`);
  if (x.rank < 1 || x.shape[x.rank - 1] < 1) throw new RangeError(`${op}: x must be [..., D] with D >= 1, got ${formatShape(x.shape)}`);
  const y = launch({ op, kernel: 'l2Normalize', inputs: [x], outShape: x.shape, attrs: { eps } });
  return record(y, op, [x], (gy) => [launch({ op: `${op}.backward`, kernel: 'l2NormalizeBackward', inputs: [gradIn(gy, x.dtype), x], outShape: x.shape, attrs: { eps } })]);
}

registerOp({
  name: 'l2Normalize',
  kernels: ['l2Normalize', 'l2NormalizeBackward'],
  cases: [
    { label: 'rows of 8', shapes: [[4, 8]] },
    { label: 'rank 3, D 5', shapes: [[2, 3, 5]] },
    { label: 'eps 2 clamps some rows', shapes: [[6, 3]], attrs: { eps: 2 } },
    { label: 'one row of 130', shapes: [[1, 130]] },
  ],
  run: ([x], attrs) => l2Normalize(x, attrs as L2NormalizeOptions),
  tolerance: { atol: 1e-6, rtol: 1e-5 },
  halfTolerance: { output: 2, gradient: 8, why: 'one rounding of x/‖x‖; the gradient dy/d − x·⟨x,dy⟩/(d·‖x‖²) is rounded once but cancels, so its error is relative to |dy|, not to the result' },
});
