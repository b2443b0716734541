// scale(x, s) = s·x, by the broadcastTo kernel with attrs.scale. Gradient: s·gy, or, when gy is known
// on the host to be v (Tensor.knownValue), a tensor known to be s·v that no kernel fills unless read.
import { type Tensor, knownFull } from '../core/tensor.js';
import { checkTensor, launch, record } from './op.js';
import { registerOp } from './registry.js';

export function scale(xIn: Tensor, s: number): Tensor {
  const x = checkTensor(xIn, 'scale', 'x');
  if (typeof s !== 'number') throw new TypeError(`scale: s must be a number, got ${typeof s}`);
  const y = launch({ op: 'scale', kernel: 'broadcastTo', inputs: [x], outShape: x.shape, attrs: { scale: s } });
  // A known upstream gradient v gives a known s·v, filled on the device only if something reads it.
  return record(y, 'scale', [x], (gy) => [gy.knownValue !== undefined ? knownFull(gy.shape, gy.knownValue * s, gy.backend, gy.dtype) : scale(gy, s)]);
}

registerOp({
  name: 'scale',
  kernels: ['broadcastTo'],
  cases: [
    { label: 'NHWC by −2.5', shapes: [[2, 3, 5, 7]], attrs: { s: -2.5 } },
    { label: 'vector by 0.1', shapes: [[9]], attrs: { s: 0.1 } },
  ],
  run: ([x], attrs) => scale(x, attrs.s as number),
  tolerance: { atol: 1e-6, rtol: 1e-6 },
  halfTolerance: { output: 2, gradient: 2, why: 'one rounding of s·x; the gradient is one rounding of s·gy' },
});
