// cast(x, dtype): x's values in another dtype (float32, bfloat16, float16), by the cast kernel:
// narrowing rounds to nearest even, widening is exact. Gradient: gy cast back to x's dtype (gy
// itself when it already has it), so a half activation made from a float32 master weight sends a
// float32 gradient to the weight.
// Casting to x's own dtype returns a copy (new storage, recorded like any cast, gradient gy): the
// result never aliases x, so an in-place update of one (copyRowsInto, an optimizer step) never
// changes the other. It runs broadcastTo with scale 1, an exact copy every backend has.
import { checkDType, type DType } from '../core/dtype.js';
import type { Tensor } from '../core/tensor.js';
import { checkTensor, launch, record } from './op.js';
import { registerOp } from './registry.js';

export function cast(xIn: Tensor, dtypeIn: DType): Tensor {
  const op = 'cast';
  const x = checkTensor(xIn, op, 'x');
  const dtype = checkDType(dtypeIn, op);
  const y =
    dtype === x.dtype
      ? launch({ op, kernel: 'broadcastTo', inputs: [x], outShape: x.shape, attrs: { scale: 1 } })
      : launch({ op, kernel: 'cast', inputs: [x], outShape: x.shape, outDtype: dtype });
  return record(y, op, [x], (gy) => [gy.dtype === x.dtype ? gy : cast(gy, x.dtype)]);
}

/**
 * gy in `dtype`, for a gradient rule whose kernel takes gy with tensors of that dtype: gradients may
 * arrive in another dtype (a conv's float32 weight gradient for a half weight).
 */
export function gradIn(gy: Tensor, dtype: DType): Tensor {
  return gy.dtype === dtype ? gy : cast(gy, dtype);
}

// In a half case the input is already rounded, so a cast either copies it or rounds it once more
// exactly as the float32 run does (bfloat16 ↔ float16 through float32 is one rounding): no error.
const EXACT = { output: 0, gradient: 0, why: 'a cast of rounded values rounds (once) as the float32 run does' };
const STEP = 'rounding is a step function, which finite differences cannot see through; the gradient (the identity, cast back) is checked in test/dtype.test.ts';

registerOp({
  name: 'cast to bfloat16',
  kernels: ['cast'],
  cases: [
    { label: 'NHWC', shapes: [[2, 3, 3, 5]] },
    { label: 'odd length', shapes: [[37]] },
  ],
  run: ([x]) => cast(x, 'bfloat16'),
  // One rounding to nearest even, the same on every backend.
  tolerance: { atol: 0, rtol: 0 },
  halfTolerance: EXACT,
  noFiniteDifferences: STEP,
});

registerOp({
  name: 'cast to float16',
  kernels: ['cast'],
  cases: [{ label: 'NHWC', shapes: [[2, 3, 3, 5]] }],
  run: ([x]) => cast(x, 'float16'),
  tolerance: { atol: 0, rtol: 0 },
  halfTolerance: EXACT,
  noFiniteDifferences: STEP,
});

registerOp({
  name: 'cast to float32',
  kernels: ['cast', 'broadcastTo'],
  cases: [{ label: 'matrix', shapes: [[4, 6]] }],
  run: ([x]) => cast(x, 'float32'),
  tolerance: { atol: 0, rtol: 0 },
  halfTolerance: EXACT,
});
