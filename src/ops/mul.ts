// mul(a, b): elementwise product with numpy broadcasting. Gradient: gy·b to a, gy·a to b, each
// summed back to its input's shape.
import { broadcastShape, formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { gradIn } from './cast.js';
import { checkTensor, launch, record, sameBackend, sameDtype } from './op.js';
import { sumToShape } from './reduce.js';
import { registerOp } from './registry.js';

export function mul(aIn: Tensor, bIn: Tensor): Tensor {
  const a = checkTensor(aIn, 'mul', 'a');
  const b = checkTensor(bIn, 'mul', 'b');
  sameBackend('mul', [a, b], ['a', 'b']);
  sameDtype('mul', [a, b], ['a', 'b']);
  const outShape = broadcastShape(a.shape, b.shape);
  if (!outShape) throw new RangeError(`mul: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} do not broadcast`);
  const out = launch({ op: 'mul', kernel: 'mul', inputs: [a, b], outShape });
  return record(out, 'mul', [a, b], (gyIn) => {
    const gy = gradIn(gyIn, a.dtype);
    return [
      a.requiresGrad ? sumToShape(launch({ op: 'mul.backward', kernel: 'mul', inputs: [gy, b], outShape }), a.shape) : null,
      b.requiresGrad ? sumToShape(launch({ op: 'mul.backward', kernel: 'mul', inputs: [gy, a], outShape }), b.shape) : null,
    ];
  });
}

registerOp({
  name: 'mul',
  kernels: ['mul', 'reduceSum'],
  cases: [
    { label: 'same shape', shapes: [[3, 5], [3, 5]] },
    { label: 'per-channel scale NHWC', shapes: [[2, 3, 3, 6], [6]] },
    { label: 'both broadcast', shapes: [[2, 1, 4], [3, 1]] },
    { label: 'scalar', shapes: [[4, 3], [1]] },
  ],
  run: ([a, b]) => mul(a, b),
  tolerance: { atol: 1e-6, rtol: 1e-6 },
  halfTolerance: { output: 2, gradient: 4, why: 'one rounding of the product; a gradient is a rounded product, then perhaps a rounded reduceSum' },
});
