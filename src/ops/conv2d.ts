// conv2d(x[N,H,W,Ci], w[Co,KH,KW,Ci], {stride, padding, bias}) → y[N,Ho,Wo,Co], zero padding,
// Ho = floor((H + 2·padH − KH) / strideH) + 1. Gradients: dx = conv2dBackwardInput(dy, w),
// dw = conv2dBackwardFilter(x, dy); the bias is added with add(), whose gradient sums dy over N, H, W.
// x, w (and bias) share one dtype; y and dx have it, and dw is float32 whatever it is (the gradient
// of a half weight, a cast of a float32 master, goes back to the master unrounded). attrs.tf32 is the
// float32 precision switch (core/precision.ts).
// linear(x[N,in], w[out,in], b?) = x·wᵀ + b (PyTorch's nn.Linear weight layout), by matmul and add.
import { tf32For } from '../core/precision.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { add } from './add.js';
import { matmul } from './matmul.js';
import { gradIn } from './cast.js';
import { checkTensor, launch, record, sameBackend, sameDtype } from './op.js';
import { registerOp } from './registry.js';

export interface Conv2dOptions {
  /** Stride: one number for both axes, or [strideH, strideW] (default 1). */
  stride?: number | readonly [number, number];
  /** Zero padding on each side: one number, or [padH, padW] (default 0). */
  padding?: number | readonly [number, number];
  /** [Co], added to every output pixel. */
  bias?: Tensor;
}

function pair(v: unknown, fallback: number, what: string, names: string, min: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  const ok = (d: unknown): d is number => typeof d === 'number' && Number.isInteger(d) && d >= min && d <= 2 ** 20;
  if (ok(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1])) return [v[0], v[1]];
  throw new RangeError(
    `conv2d: ${what} must be an integer ≥ ${min} or a pair ${names} of them, got ${JSON.stringify(v) ?? String(v)}`,
  );
}

export function conv2d(xIn: Tensor, wIn: Tensor, opts: Conv2dOptions = {}): Tensor {
  const x = checkTensor(xIn, 'conv2d', 'x');
  const w = checkTensor(wIn, 'conv2d', 'w');
  if (opts === null || typeof opts !== 'object') throw new TypeError('conv2d: options must be an object');
  const bias = opts.bias === undefined ? undefined : checkTensor(opts.bias, 'conv2d', 'bias');
  sameBackend('conv2d', bias ? [x, w, bias] : [x, w], bias ? ['x', 'w', 'bias'] : ['x', 'w']);
  sameDtype('conv2d', bias ? [x, w, bias] : [x, w], bias ? ['x', 'w', 'bias'] : ['x', 'w']);
  if (x.rank !== 4) throw new RangeError(`conv2d: x must be 4-D [N,H,W,Ci] (NHWC), got ${formatShape(x.shape)}`);
  if (w.rank !== 4) throw new RangeError(`conv2d: w must be 4-D [Co,KH,KW,Ci], got ${formatShape(w.shape)}`);
  const [n, h, wd, ci] = x.shape;
  const [co, kh, kw, wci] = w.shape;
  if (wci !== ci) {
    throw new RangeError(`conv2d: x ${formatShape(x.shape)} has ${ci} channels but w ${formatShape(w.shape)} expects ${wci}`);
  }
  if (kh < 1 || kw < 1) throw new RangeError(`conv2d: w ${formatShape(w.shape)} has an empty kernel`);
  const [sh, sw] = pair(opts.stride, 1, 'stride', '[strideH, strideW]', 1);
  const [ph, pw] = pair(opts.padding, 0, 'padding', '[padH, padW]', 0);
  if (h + 2 * ph < kh || wd + 2 * pw < kw) {
    throw new RangeError(
      `conv2d: the ${kh}x${kw} kernel of w ${formatShape(w.shape)} does not fit x ${formatShape(x.shape)} with padding [${ph},${pw}]`,
    );
  }
  if (bias && (bias.rank !== 1 || bias.shape[0] !== co)) {
    throw new RangeError(`conv2d: bias ${formatShape(bias.shape)} should be [${co}] for w ${formatShape(w.shape)}`);
  }
  const ho = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const wo = Math.floor((wd + 2 * pw - kw) / sw) + 1;
  const attrs = { strideH: sh, strideW: sw, padH: ph, padW: pw, tf32: tf32For(x.dtype) };
  const y = launch({ op: 'conv2d', kernel: 'conv2d', inputs: [x, w], outShape: [n, ho, wo, co], attrs });
  record(y, 'conv2d', [x, w], (gyIn) => {
    const gy = gradIn(gyIn, x.dtype);
    return [
      x.requiresGrad
        ? launch({ op: 'conv2d.backward', kernel: 'conv2dBackwardInput', inputs: [gy, w], outShape: x.shape, attrs })
        : null,
      w.requiresGrad
        ? launch({ op: 'conv2d.backward', kernel: 'conv2dBackwardFilter', inputs: [x, gy], outShape: w.shape, outDtype: 'float32', attrs })
        : null,
    ];
  });
  if (!bias) return y;
  // Neither gradient rule reads y's values, so the intermediate can go at once.
  const out = add(y, bias);
  y.dispose();
  return out;
}

export function linear(xIn: Tensor, wIn: Tensor, bIn?: Tensor): Tensor {
  const x = checkTensor(xIn, 'linear', 'x');
  const w = checkTensor(wIn, 'linear', 'w');
  const b = bIn === undefined ? undefined : checkTensor(bIn, 'linear', 'b');
  sameBackend('linear', b ? [x, w, b] : [x, w], b ? ['x', 'w', 'b'] : ['x', 'w']);
  sameDtype('linear', b ? [x, w, b] : [x, w], b ? ['x', 'w', 'b'] : ['x', 'w']);
  if (x.rank !== 2) throw new RangeError(`linear: x must be 2-D [N,in], got ${formatShape(x.shape)}`);
  if (w.rank !== 2) throw new RangeError(`linear: w must be 2-D [out,in], got ${formatShape(w.shape)}`);
  if (x.shape[1] !== w.shape[1]) {
    throw new RangeError(`linear: x ${formatShape(x.shape)} has ${x.shape[1]} features but w ${formatShape(w.shape)} expects ${w.shape[1]}`);
  }
  if (b && (b.rank !== 1 || b.shape[0] !== w.shape[0])) {
    throw new RangeError(`linear: b ${formatShape(b.shape)} should be [${w.shape[0]}] for w ${formatShape(w.shape)}`);
  }
  const y = matmul(x, w, { transposeB: true });
  if (!b) return y;
  const out = add(y, b);
  y.dispose();
  return out;
}

registerOp({
  name: 'conv2d',
  kernels: ['conv2d', 'conv2dBackwardInput', 'conv2dBackwardFilter', 'add', 'reduceSum'],
  cases: [
    { label: '3x3 stride 1 padding 1', shapes: [[2, 5, 5, 3], [4, 3, 3, 3]], attrs: { padding: 1 } },
    { label: 'batch 1, 3 channels, odd size, stride 2', shapes: [[1, 7, 7, 3], [5, 3, 3, 3]], attrs: { stride: 2 } },
    { label: 'stride 2 padding 1, odd size', shapes: [[1, 7, 7, 2], [3, 3, 3, 2]], attrs: { stride: 2, padding: 1 } },
    { label: '7x7 stride 2 padding 3, one channel', shapes: [[1, 9, 9, 1], [4, 7, 7, 1]], attrs: { stride: 2, padding: 3 } },
    { label: '1x1 stride 2', shapes: [[2, 5, 5, 4], [6, 1, 1, 4]], attrs: { stride: 2 } },
    { label: '1x1 stride 1 (plain GEMM)', shapes: [[2, 4, 4, 5], [3, 1, 1, 5]] },
    { label: 'bias', shapes: [[2, 4, 4, 3], [4, 3, 3, 3], [4]], attrs: { padding: 1 } },
    { label: '3x1 kernel, stride [2,1], padding [1,0]', shapes: [[1, 6, 5, 3], [4, 3, 1, 3]], attrs: { stride: [2, 1], padding: [1, 0] } },
    { label: 'padding wider than the kernel', shapes: [[1, 4, 4, 2], [3, 2, 2, 2]], attrs: { padding: 2 } },
    { label: 'batch 1, Ci 12 and Co 10 (not multiples of 8)', shapes: [[1, 4, 4, 12], [10, 3, 3, 12]], attrs: { padding: 1 } },
  ],
  run: ([x, w, b], attrs) => conv2d(x, w, { ...(attrs as Conv2dOptions), bias: b }),
  tolerance: { atol: 1e-4, rtol: 1e-4 },
  halfTolerance: {
    output: 4,
    gradient: 4,
    why: 'y and dx are float32 sums rounded once (twice with a bias, and the bias add can cancel); dw is float32 from the same rounded x and dy',
  },
});

registerOp({
  name: 'linear',
  kernels: ['matmul', 'add', 'reduceSum'],
  cases: [
    { label: 'with bias', shapes: [[4, 5], [3, 5], [3]] },
    { label: 'no bias', shapes: [[3, 7], [2, 7]] },
  ],
  run: ([x, w, b]) => linear(x, w, b),
  tolerance: { atol: 1e-5, rtol: 1e-4 },
  halfTolerance: { output: 4, gradient: 4, why: 'a float32 matmul rounded once, then the bias add rounded again (and it can cancel); gradients are matmuls and a reduceSum rounded once' },
});
