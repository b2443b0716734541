// relu(x) = max(x, 0). Gradient: gy where the output is positive.
// addRelu(a, b) = relu(a + b) for a and b of one shape, in one kernel: a residual block's add and
// ReLU (issue 15 item 3: one pass over the sum instead of a write and a read of it). The sum is
// rounded once, as add rounds it, so it is relu(add(a, b)) exactly, gradients included: reluBackward
// on the output, the same tensor for both inputs.
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { gradIn } from './cast.js';
import { checkTensor, launch, record, sameBackend, sameDtype } from './op.js';
import { registerOp } from './registry.js';

export function relu(xIn: Tensor): Tensor {
  const x = checkTensor(xIn, 'relu', 'x');
  const y = launch({ op: 'relu', kernel: 'relu', inputs: [x], outShape: x.shape });
  return record(y, 'relu', [x], (gy) => [launch({ op: 'relu.backward', kernel: 'reluBackward', inputs: [gradIn(gy, y.dtype), y], outShape: x.shape })]);
}

export function addRelu(aIn: Tensor, bIn: Tensor): Tensor {
  const a = checkTensor(aIn, 'addRelu', 'a');
  const b = checkTensor(bIn, 'addRelu', 'b');
  sameBackend('addRelu', [a, b], ['a', 'b']);
  sameDtype('addRelu', [a, b], ['a', 'b']);
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new RangeError(`addRelu: a ${formatShape(a.shape)} and b ${formatShape(b.shape)} must have one shape (it does not broadcast); use relu(add(a, b))`);
  }
  const y = launch({ op: 'addRelu', kernel: 'addRelu', inputs: [a, b], outShape: a.shape });
  return record(y, 'addRelu', [a, b], (gy) => {
    const g = launch({ op: 'addRelu.backward', kernel: 'reluBackward', inputs: [gradIn(gy, y.dtype), y], outShape: a.shape });
    return [a.requiresGrad ? g : null, b.requiresGrad ? g : null];
  });
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

registerOp({
  name: 'addRelu',
  kernels: ['addRelu', 'reluBackward'],
  cases: [
    { label: 'NHWC', shapes: [[2, 3, 5, 7], [2, 3, 5, 7]] },
    { label: 'odd length', shapes: [[37], [37]] },
  ],
  run: ([a, b]) => addRelu(a, b),
  tolerance: { atol: 1e-6, rtol: 1e-6 },
  halfTolerance: { output: 1, gradient: 0, why: 'the sum is rounded once to the half dtype; the gradient is a masked copy of gy' },
  awayFromZero: 0.05,
});
