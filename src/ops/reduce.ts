// sum and mean over axes (all by default), optionally keeping reduced axes as size 1.
// Gradient: the output gradient broadcast back over the reduced axes (scaled by 1/count for mean).
import { formatShape, normalizeAxes, numel, reducedAxesFor, shapesEqual, type Shape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { checkTensor, launch, record } from './op.js';
import { registerOp } from './registry.js';

export interface ReduceOptions {
  axes?: number | number[];
  keepDims?: boolean;
}

function reduce(op: 'sum' | 'mean', xIn: unknown, opts: ReduceOptions = {}): Tensor {
  const x = checkTensor(xIn, op, 'x');
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${op}: options must be an object`);
  const axes = normalizeAxes(opts.axes, x.rank, op);
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outShape = opts.keepDims ? keptShape : x.shape.filter((_, i) => !axes.includes(i));
  const count = numel(axes.map((a) => x.shape[a]));
  const scale = op === 'mean' ? 1 / Math.max(count, 1) : 1;
  if (op === 'mean' && count === 0) throw new RangeError(`mean: no elements to average over axes [${axes}] of ${formatShape(x.shape)}`);
  const out = launch({ op, kernel: 'reduceSum', inputs: [x], outShape, attrs: { axes, scale } });
  return record(out, op, [x], (gy) => [
    launch({ op: `${op}.backward`, kernel: 'broadcastTo', inputs: [gy], inputShapes: [keptShape], outShape: x.shape, attrs: { scale } }),
  ]);
}

export function sum(x: Tensor, opts?: ReduceOptions): Tensor {
  return reduce('sum', x, opts);
}

export function mean(x: Tensor, opts?: ReduceOptions): Tensor {
  return reduce('mean', x, opts);
}

/** Sums a broadcast gradient back to `shape` (the input's shape before broadcasting). */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const axes = reducedAxesFor(shape, g.shape);
  return launch({ op: 'sumToShape', kernel: 'reduceSum', inputs: [g], outShape: shape, attrs: { axes, scale: 1 } });
}

const reduceCases = [
  { label: 'all', shapes: [[3, 4]], attrs: {} },
  { label: 'axis 0', shapes: [[3, 4, 5]], attrs: { axes: 0 } },
  { label: 'last axis keepDims', shapes: [[3, 4, 5]], attrs: { axes: -1, keepDims: true } },
  { label: 'middle axes', shapes: [[2, 3, 4, 5]], attrs: { axes: [1, 2] } },
  { label: 'NHWC per-channel', shapes: [[2, 3, 3, 7]], attrs: { axes: [0, 1, 2] } },
];
// Sums accumulate in float32 (double on the CPU) and round once; the gradient is gy broadcast (mean: scaled, one rounding).
const reduceHalf = { output: 2, gradient: 2, why: 'one rounding of the float32 sum; the gradient is gy broadcast, scaled and rounded once for mean' };
registerOp({ name: 'sum', kernels: ['reduceSum', 'broadcastTo'], cases: reduceCases, run: ([x], a) => sum(x, a), tolerance: { atol: 1e-5, rtol: 1e-5 }, halfTolerance: reduceHalf });
registerOp({ name: 'mean', kernels: ['reduceSum', 'broadcastTo'], cases: reduceCases, run: ([x], a) => mean(x, a), tolerance: { atol: 1e-6, rtol: 1e-5 }, halfTolerance: reduceHalf });
