// Row (axis-0) permutation and in-place row copy: MoCo's batch shuffle for its key encoder's BN groups,
// and its queue update.
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { checkTensor, launch, launchInPlace, record, sameDtype } from './op.js';
import { registerOp } from './registry.js';

/** y[i] = x[index[i]] along axis 0. Gradient: scattered back (for a permutation, the inverse order). */
export function gatherRows(xIn: Tensor, index: number[]): Tensor {
  const x = checkTensor(xIn, 'gatherRows', 'x');
  if (x.rank < 1) throw new RangeError('gatherRows: x must have at least one axis');
  if (!Array.isArray(index) || index.some((i) => !Number.isInteger(i) || i < 0 || i >= x.shape[0])) {
    throw new RangeError(`gatherRows: index must hold integers in [0, ${x.shape[0]}) for x ${formatShape(x.shape)}`);
  }
  const out = launch({ op: 'gatherRows', kernel: 'gatherRows', inputs: [x], outShape: [index.length, ...x.shape.slice(1)], attrs: { index } });
  return record(out, 'gatherRows', [x], (gy) => {
    const inverse = new Array<number>(x.shape[0]);
    const seen = new Set(index);
    if (seen.size !== index.length || index.length !== x.shape[0]) {
      throw new Error('gatherRows: the gradient is implemented for permutations only');
    }
    index.forEach((src, i) => (inverse[src] = i));
    return [launch({ op: 'gatherRows.backward', kernel: 'gatherRows', inputs: [gy], outShape: x.shape, attrs: { index: inverse } })];
  });
}

/** In place: dst[start : start + rows(src)] = src (not recorded for autograd). */
export function copyRowsInto(dst: Tensor, src: Tensor, start: number): void {
  checkTensor(dst, 'copyRowsInto', 'dst');
  checkTensor(src, 'copyRowsInto', 'src');
  sameDtype('copyRowsInto', [dst, src], ['dst', 'src']);
  launchInPlace({ op: 'copyRowsInto', kernel: 'copyRows', inputs: [src], outputs: [dst], attrs: { start } });
}

registerOp({
  name: 'gatherRows',
  kernels: ['gatherRows'],
  cases: [
    { label: 'permutation of 5 rows', shapes: [[5, 2, 3]], attrs: { index: [3, 0, 4, 1, 2] } },
    { label: 'matrix', shapes: [[4, 6]], attrs: { index: [1, 0, 3, 2] } },
  ],
  run: ([x], a) => gatherRows(x, a.index as number[]),
  tolerance: { atol: 0, rtol: 0 },
  halfTolerance: { output: 0, gradient: 0, why: 'copies' },
});
