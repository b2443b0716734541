// scale(x, s) = s·x, by the broadcastTo kernel with attrs.scale. Gradient: s·gy (known on the host
// to be s·v when gy is known to be v: Tensor.knownValue).
import type { Tensor } from '../core/tensor.js';
import { checkTensor, launch, record } from './op.js';
import { registerOp } from './registry.js';

export function scale(xIn: Tensor, s: number): Tensor {
  const x = checkTensor(xIn, 'scale', 'x');
  if (typeof s !== 'number') throw new TypeError(`scale: s must be a number, got ${typeof s}`);
  const y = launch({ op: 'scale', kernel: 'broadcastTo', inputs: [x], outShape: x.shape, attrs: { scale: s } });
  return record(y, 'scale', [x], (gy) => {
    const gx = scale(gy, s);
    if (gy.knownValue !== undefined) gx.knownValue = gy.knownValue * s;
    return [gx];
  });
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
});
