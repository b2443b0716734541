// relu(x) = max(x, 0). Gradient: gy where the output is positive.
import type { Tensor } from '../core/tensor.js';
import { gradIn } from './cast.js';
import { checkTensor, launch, record } from './op.js';
import { registerOp } from './registry.js';

export function relu(xIn: Tensor): Tensor {
  const x = checkTensor(xIn, 'relu', 'x');
  const y = launch({ op: 'relu', kernel: 'relu', inputs: [x], outShape: x.shape });
  return record(y, 'relu', [x], (gy) => [launch({ op: 'relu.backward', kernel: 'reluBackward', inputs: [gradIn(gy, y.dtype), y], outShape: x.shape })]);
}

registerOp({
  name: 'relu',
  kernels: ['relu', 'reluBackward'],
  cases: [
    { label: 'matrix', shapes: [[4, 6]] },
    { label: 'NHWC', shapes: [[2, 3, 5, 7]] },
    { label: 'odd length', shapes: [[37]] },
  ],
  run: ([x]) => relu(x),
  tolerance: { atol: 0, rtol: 0 },
  halfTolerance: { output: 0, gradient: 0, why: 'relu and its mask copy values, so a half result is exact' },
  awayFromZero: 0.05,
});
