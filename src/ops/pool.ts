// maxPool2d(x[N,H,W,C], {kernel = 3, stride = 2, padding = 1}): max over each window (a number, or
// [h, w] per axis), padding never wins; gradient to the first maximum of each window (as PyTorch),
// by maxPool2dBackward. globalAvgPool(x[N,H,W,C]) → [N,C]: mean over axes 1 and 2.
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { gradIn } from './cast.js';
import { checkTensor, launch, record } from './op.js';
import { mean } from './reduce.js';
import { registerOp } from './registry.js';

export interface MaxPoolOptions {
  kernel?: number | [number, number];
  stride?: number | [number, number];
  padding?: number | [number, number];
}

function pair(v: unknown, fallback: number, what: string, min: number): [number, number] {
  const p = v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= min && d <= 2 ** 20)) {
    throw new RangeError(`maxPool2d: ${what} must be an integer >= ${min} or a pair [h, w] of them, got ${JSON.stringify(v)}`);
  }
  return [p[0], p[1]];
}

export function maxPool2d(xIn: Tensor, opts: MaxPoolOptions = {}): Tensor {
  const op = 'maxPool2d';
  const x = checkTensor(xIn, op, 'x');
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${op}: options must be an object`);
  const [kernelH, kernelW] = pair(opts.kernel, 3, 'kernel', 1);
  const [strideH, strideW] = pair(opts.stride, 2, 'stride', 1);
  const [padH, padW] = pair(opts.padding, 1, 'padding', 0);
  if (x.rank !== 4) throw new RangeError(`${op}: x must be 4-D [N,H,W,C], got ${formatShape(x.shape)}`);
  if (2 * padH > kernelH || 2 * padW > kernelW) {
    throw new RangeError(`${op}: padding [${padH},${padW}] must be at most half the kernel [${kernelH},${kernelW}]`);
  }
  const [N, H, W, C] = x.shape;
  if (H < 1 || W < 1 || H + 2 * padH < kernelH || W + 2 * padW < kernelW) {
    throw new RangeError(`${op}: the ${kernelH}x${kernelW} window does not fit x ${formatShape(x.shape)} with padding [${padH},${padW}]`);
  }
  const Ho = Math.floor((H + 2 * padH - kernelH) / strideH) + 1;
  const Wo = Math.floor((W + 2 * padW - kernelW) / strideW) + 1;
  const attrs = { kernelH, kernelW, strideH, strideW, padH, padW };
  const y = launch({ op, kernel: 'maxPool2d', inputs: [x], outShape: [N, Ho, Wo, C], attrs });
  return record(y, op, [x], (gy) => [launch({ op: `${op}.backward`, kernel: 'maxPool2dBackward', inputs: [gradIn(gy, x.dtype), x], outShape: x.shape, attrs })]);
}

export function globalAvgPool(xIn: Tensor): Tensor {
  const x = checkTensor(xIn, 'globalAvgPool', 'x');
  if (x.rank !== 4) throw new RangeError(`globalAvgPool: x must be 4-D [N,H,W,C], got ${formatShape(x.shape)}`);
  return mean(x, { axes: [1, 2] });
}

registerOp({
  name: 'maxPool2d',
  kernels: ['maxPool2d', 'maxPool2dBackward'],
  cases: [
    { label: 'ResNet stem 3/2/1, batch 1, odd size', shapes: [[1, 5, 5, 3]] },
    { label: '3/2/1, C 5, odd H and W', shapes: [[2, 5, 7, 5]] },
    { label: 'per-axis kernel [2,3] stride [1,2] padding [0,1]', shapes: [[1, 4, 6, 4]], attrs: { kernel: [2, 3], stride: [1, 2], padding: [0, 1] } },
    { label: '2/2/0 non-overlapping', shapes: [[2, 4, 4, 3]], attrs: { kernel: 2, stride: 2, padding: 0 } },
  ],
  run: ([x], attrs) => maxPool2d(x, attrs as MaxPoolOptions),
  // Values are copied exactly; a gradient may sum overlapping windows in another order.
  tolerance: { atol: 1e-7, rtol: 0 },
  halfTolerance: { output: 0, gradient: 2, why: 'the maximum is copied exactly; a gradient where windows overlap is a float32 sum rounded once' },
});

registerOp({
  name: 'globalAvgPool',
  kernels: ['reduceSum', 'broadcastTo'],
  cases: [
    { label: 'NHWC', shapes: [[2, 3, 5, 7]] },
    { label: 'batch 1', shapes: [[1, 7, 7, 3]] },
  ],
  run: ([x]) => globalAvgPool(x),
  tolerance: { atol: 1e-6, rtol: 1e-5 },
  halfTolerance: { output: 2, gradient: 2, why: 'a mean rounded once; the gradient is gy/count rounded once' },
});
