// concat(tensors, axis) and slice(x, axis, start, end): copies along one axis (negative axes count
// from the end). Gradients: concat's is a slice of gy per input; slice's is sliceBackward (gy in
// place, zeros around it).
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { checkTensor, launch, record, sameBackend, sameDtype } from './op.js';
import { registerOp } from './registry.js';

/** The addon takes at most 1024 tensors per kernel call; longer lists are concatenated in groups. */
const MAX_INPUTS = 1024;

function normAxis(axis: unknown, rank: number, op: string): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new RangeError(`${op}: axis ${String(axis)} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

function sliceAlong(x: Tensor, axis: number, start: number, length: number, op: string): Tensor {
  const outShape = x.shape.map((d, i) => (i === axis ? length : d));
  return launch({ op, kernel: 'slice', inputs: [x], outShape, attrs: { axis, start } });
}

export function concat(tensorsIn: Tensor[], axisIn: number): Tensor {
  const op = 'concat';
  if (!Array.isArray(tensorsIn) || tensorsIn.length === 0) throw new TypeError(`${op}: expects a non-empty array of tensors`);
  const xs = tensorsIn.map((t, i) => checkTensor(t, op, `tensors[${i}]`));
  sameBackend(op, xs, xs.map((_, i) => `tensors[${i}]`));
  sameDtype(op, xs, xs.map((_, i) => `tensors[${i}]`));
  const first = xs[0];
  if (first.rank === 0) throw new RangeError(`${op}: cannot concatenate scalars`);
  const axis = normAxis(axisIn, first.rank, op);
  xs.forEach((t, i) => {
    if (t.rank !== first.rank || t.shape.some((d, k) => k !== axis && d !== first.shape[k])) {
      throw new RangeError(`${op}: tensors[${i}] shape ${formatShape(t.shape)} does not match tensors[0] ${formatShape(first.shape)} outside axis ${axis}`);
    }
  });
  if (xs.length > MAX_INPUTS) {
    const groups: Tensor[] = [];
    for (let i = 0; i < xs.length; i += MAX_INPUTS) groups.push(concat(xs.slice(i, i + MAX_INPUTS), axis));
    return concat(groups, axis);
  }
  const total = xs.reduce((s, t) => s + t.shape[axis], 0);
  const outShape = first.shape.map((d, k) => (k === axis ? total : d));
  const y = launch({ op, kernel: 'concat', inputs: xs, outShape, attrs: { axis } });
  return record(y, op, xs, (gy) => {
    let offset = 0;
    return xs.map((t) => {
      const start = offset;
      offset += t.shape[axis];
      return t.requiresGrad ? sliceAlong(gy, axis, start, t.shape[axis], `${op}.backward`) : null;
    });
  });
}

/** x's elements [start, end) along axis (negative start/end count from the end; end defaults to the axis length). */
export function slice(xIn: Tensor, axisIn: number, startIn: number, endIn?: number): Tensor {
  const op = 'slice';
  const x = checkTensor(xIn, op, 'x');
  if (x.rank === 0) throw new RangeError(`${op}: cannot slice a scalar`);
  const axis = normAxis(axisIn, x.rank, op);
  const dim = x.shape[axis];
  const norm = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${op}: ${what} must be an integer, got ${String(v)}`);
    return v < 0 ? v + dim : v;
  };
  const start = norm(startIn, 'start');
  const end = endIn === undefined ? dim : norm(endIn, 'end');
  if (start < 0 || end > dim || start > end) {
    throw new RangeError(`${op}: [${startIn}, ${endIn ?? dim}) is not a range of axis ${axis} (length ${dim}) of ${formatShape(x.shape)}`);
  }
  const y = sliceAlong(x, axis, start, end - start, op);
  return record(y, op, [x], (gy) => [launch({ op: `${op}.backward`, kernel: 'sliceBackward', inputs: [gy], outShape: x.shape, attrs: { axis, start } })]);
}

registerOp({
  name: 'concat',
  kernels: ['concat', 'slice'],
  cases: [
    { label: 'axis 0', shapes: [[2, 3], [4, 3]], attrs: { axis: 0 } },
    { label: 'NHWC channels, C 3 + 5', shapes: [[2, 2, 3, 3], [2, 2, 3, 5]], attrs: { axis: -1 } },
    { label: 'three inputs, middle axis', shapes: [[2, 1, 3], [2, 4, 3], [2, 2, 3]], attrs: { axis: 1 } },
  ],
  run: (xs, attrs) => concat(xs, attrs.axis as number),
  tolerance: { atol: 0, rtol: 0 },
  halfTolerance: { output: 0, gradient: 0, why: 'copies' },
});

registerOp({
  name: 'slice',
  kernels: ['slice', 'sliceBackward'],
  cases: [
    { label: 'rows 1..3 of 5', shapes: [[5, 4]], attrs: { axis: 0, start: 1, end: 3 } },
    { label: 'NHWC channels 2..7 of 9', shapes: [[2, 3, 3, 9]], attrs: { axis: -1, start: 2, end: 7 } },
    { label: 'middle axis from the end', shapes: [[2, 7, 5]], attrs: { axis: 1, start: -4 } },
  ],
  run: ([x], attrs) => slice(x, attrs.axis as number, attrs.start as number, attrs.end as number | undefined),
  tolerance: { atol: 0, rtol: 0 },
  halfTolerance: { output: 0, gradient: 0, why: 'copies' },
});
