// add(a, b) with numpy broadcasting. Gradient: gy summed back to each input's shape (gy itself, with
// its Tensor.knownValue, for an input of the output's shape).
import { broadcastShape, formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { checkTensor, launch, record, sameBackend, sameDtype } from './op.js';
import { sumToShape } from './reduce.js';
import { registerOp } from './registry.js';

export function add(aIn: Tensor, bIn: Tensor): Tensor {
  const a = checkTensor(aIn, 'add', 'a');
  const b = checkTensor(bIn, 'add', 'b');
  sameBackend('add', [a, b], ['a', 'b']);
  sameDtype('add', [a, b], ['a', 'b']);
  const outShape = broadcastShape(a.shape, b.shape);
  if (!outShape) throw new RangeError(`add: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} do not broadcast`);
  const out = launch({ op: 'add', kernel: 'add', inputs: [a, b], outShape });
  return record(out, 'add', [a, b], (gy) => [
    a.requiresGrad ? sumToShape(gy, a.shape) : null,
    b.requiresGrad ? sumToShape(gy, b.shape) : null,
  ]);
}

registerOp({
  name: 'add',
  kernels: ['add', 'reduceSum'],
  cases: [
    { label: 'same shape', shapes: [[3, 5], [3, 5]] },
    { label: 'per-channel bias NHWC', shapes: [[2, 3, 3, 6], [6]] },
    { label: 'both broadcast', shapes: [[2, 1, 4], [3, 1]] },
    { label: 'scalar', shapes: [[4, 3], []] },
    { label: 'batch 1, bias of 13 channels', shapes: [[1, 2, 2, 13], [13]] },
  ],
  run: ([a, b]) => add(a, b),
  tolerance: { atol: 1e-6, rtol: 1e-6 },
  halfTolerance: { output: 2, gradient: 2, why: 'one rounding of the sum; a gradient is gy itself or one rounded reduceSum of it' },
});
