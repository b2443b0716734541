// batchNorm2d(x[..., C], gamma[C], beta[C], opts): batch normalisation over every axis but the last
// (NHWC activations; [N, C] features work the same way, as BatchNorm1d).
// Training: batch statistics (batchNormTrain), and the running statistics, when given, updated in
// place with PyTorch's rule (batchNormUpdateStats: momentum 0.1, unbiased variance). Eval: the
// running statistics (batchNormEval). relu: true fuses the ReLU into the same kernel, forward and
// backward. Gradients for x, gamma and beta: batchNormBackward (batch statistics) in training,
// batchNormEvalBackward (statistics are constants) in eval.
// The batch mean and invStd of a recorded training call live until the enclosing tidy() ends (the
// gradient needs them); unrecorded calls dispose them at once.
// Dtypes (as PyTorch AMP): x, y, dy and dx in any dtype; gamma, beta, the running and batch
// statistics and dgamma, dbeta always float32.
import { keep } from '../core/engine.js';
import { formatShape } from '../core/shape.js';
import { Tensor, tensor } from '../core/tensor.js';
import { gradIn } from './cast.js';
import { checkTensor, expectFloat32, launch, launchInPlace, launchOutputs, record, sameBackend } from './op.js';
import { registerOp } from './registry.js';

export interface BatchNormOptions {
  /** Batch statistics (true, the default) or the running statistics (false). */
  training?: boolean;
  /** [C]; updated in place in training mode, required in eval mode. */
  runningMean?: Tensor;
  /** [C]; updated in place in training mode (unbiased variance), required in eval mode. */
  runningVar?: Tensor;
  /** Weight of the new batch statistics in the running ones (default 0.1, as PyTorch). */
  momentum?: number;
  eps?: number;
  /** Apply ReLU to the output in the same kernel (default false). */
  relu?: boolean;
}

function numberOpt(v: unknown, fallback: number, what: string, lo: number, hi: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
    throw new RangeError(`batchNorm2d: ${what} must be a number in [${lo}, ${hi}], got ${String(v)}`);
  }
  return v;
}

export function batchNorm2d(xIn: Tensor, gammaIn: Tensor, betaIn: Tensor, opts: BatchNormOptions = {}): Tensor {
  const op = 'batchNorm2d';
  const x = checkTensor(xIn, op, 'x');
  const gamma = checkTensor(gammaIn, op, 'gamma');
  const beta = checkTensor(betaIn, op, 'beta');
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${op}: options must be an object`);
  const training = opts.training ?? true;
  if (typeof training !== 'boolean') throw new TypeError(`${op}: training must be a boolean`);
  const relu = opts.relu ?? false;
  if (typeof relu !== 'boolean') throw new TypeError(`${op}: relu must be a boolean`);
  const eps = numberOpt(opts.eps, 1e-5, 'eps', 0, Infinity);
  const momentum = numberOpt(opts.momentum, 0.1, 'momentum', 0, 1);
  if ((opts.runningMean === undefined) !== (opts.runningVar === undefined)) {
    throw new TypeError(`${op}: give both runningMean and runningVar, or neither`);
  }
  const rm = opts.runningMean === undefined ? null : checkTensor(opts.runningMean, op, 'runningMean');
  const rv = opts.runningVar === undefined ? null : checkTensor(opts.runningVar, op, 'runningVar');
  const all = [x, gamma, beta, ...(rm && rv ? [rm, rv] : [])];
  sameBackend(op, all, ['x', 'gamma', 'beta', 'runningMean', 'runningVar']);
  for (const [t, name] of [[gamma, 'gamma'], [beta, 'beta'], [rm, 'runningMean'], [rv, 'runningVar']] as const) if (t) expectFloat32(op, t, name);
  if (x.rank < 2) throw new RangeError(`${op}: x must be [..., C] with rank >= 2, got ${formatShape(x.shape)}`);
  const C = x.shape[x.rank - 1];
  for (const [t, name] of [[gamma, 'gamma'], [beta, 'beta'], [rm, 'runningMean'], [rv, 'runningVar']] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== C)) {
      throw new RangeError(`${op}: ${name} shape ${formatShape(t.shape)} should be [${C}] for x ${formatShape(x.shape)}`);
    }
  }
  if (!training) {
    if (!rm || !rv) throw new TypeError(`${op}: eval mode (training: false) needs runningMean and runningVar`);
    const y = launch({ op, kernel: 'batchNormEval', inputs: [x, gamma, beta, rm, rv], outShape: x.shape, attrs: { eps, relu } });
    return record(y, op, [x, gamma, beta], (gy) => {
      const [dx, dgamma, dbeta] = launchOutputs({
        op: `${op}.backward`,
        kernel: 'batchNormEvalBackward',
        inputs: [gradIn(gy, x.dtype), x, gamma, beta, rm, rv],
        outShapes: [x.shape, [C], [C]],
        outDtypes: [x.dtype, 'float32', 'float32'],
        attrs: { eps, relu },
      });
      return [x.requiresGrad ? dx : null, gamma.requiresGrad ? dgamma : null, beta.requiresGrad ? dbeta : null];
    });
  }
  const count = x.size / C;
  if (count <= 1) {
    throw new RangeError(`${op}: expected more than 1 value per channel when training, got x ${formatShape(x.shape)}`);
  }
  const [y, mean, invStd] = launchOutputs({
    op,
    kernel: 'batchNormTrain',
    inputs: [x, gamma, beta],
    outShapes: [x.shape, [C], [C]],
    outDtypes: [x.dtype, 'float32', 'float32'],
    attrs: { eps, relu },
  });
  if (rm && rv) {
    launchInPlace({ op, kernel: 'batchNormUpdateStats', inputs: [mean, invStd], outputs: [rm, rv], attrs: { momentum, eps, count } });
  }
  const out = record(y, op, [x, gamma, beta], (gy) => {
    const [dx, dgamma, dbeta] = launchOutputs({
      op: `${op}.backward`,
      kernel: 'batchNormBackward',
      inputs: [gradIn(gy, x.dtype), x, gamma, beta, mean, invStd],
      outShapes: [x.shape, [C], [C]],
      outDtypes: [x.dtype, 'float32', 'float32'],
      attrs: { relu },
    });
    return [x.requiresGrad ? dx : null, gamma.requiresGrad ? dgamma : null, beta.requiresGrad ? dbeta : null];
  });
  if (!out.node) {
    // Nothing will read them: the queued kernels hold their buffers until they have run.
    mean.dispose();
    invStd.dispose();
  }
  return out;
}

// Fixed running statistics for the eval-mode conformance cases (one pair per backend and C, kept
// for the life of the process so that finite differences do not allocate per call).
const evalStats = new Map<string, [Tensor, Tensor]>();
function evalStatsFor(x: Tensor): [Tensor, Tensor] {
  const C = x.shape[x.rank - 1];
  const key = `${x.backend}:${C}`;
  let s = evalStats.get(key);
  if (!s) {
    const m = Float32Array.from({ length: C }, (_, i) => 0.3 * Math.sin(i + 1));
    const v = Float32Array.from({ length: C }, (_, i) => 0.5 + 0.25 * (i % 4));
    s = [keep(tensor(m, [C], { backend: x.backend })), keep(tensor(v, [C], { backend: x.backend }))];
    evalStats.set(key, s);
  }
  return s;
}

registerOp({
  name: 'batchNorm2d',
  kernels: ['batchNormTrain', 'batchNormBackward', 'batchNormEval', 'batchNormEvalBackward'],
  cases: [
    { label: 'training NHWC', shapes: [[2, 3, 5, 7], [7], [7]] },
    { label: 'training batch 1, C 3', shapes: [[1, 5, 5, 3], [3], [3]] },
    // Shapes and seeds (the case index) chosen so that no output sits within the finite-difference
    // step of the ReLU kink.
    { label: 'training relu, C 10', shapes: [[3, 3, 3, 10], [10], [10]], attrs: { relu: true } },
    { label: 'training [N, C]', shapes: [[12, 9], [9], [9]] },
    { label: 'eval', shapes: [[2, 3, 3, 5], [5], [5]], attrs: { training: false } },
    { label: 'eval relu, batch 1', shapes: [[1, 3, 5, 6], [6], [6]], attrs: { training: false, relu: true } },
    { label: 'eval, C 12 (float4 paths on CUDA)', shapes: [[2, 2, 3, 12], [12], [12]], attrs: { training: false } },
    { label: 'training relu, C 8 (float4 paths on CUDA)', shapes: [[3, 3, 3, 8], [8], [8]], attrs: { relu: true } },
    { label: 'training batch 1, C 13', shapes: [[1, 4, 3, 13], [13], [13]] },
  ],
  run: ([x, gamma, beta], attrs) => {
    const training = attrs.training !== false;
    const [runningMean, runningVar] = training ? [undefined, undefined] : evalStatsFor(x);
    return batchNorm2d(x, gamma, beta, { training, relu: attrs.relu === true, runningMean, runningVar });
  },
  tolerance: { atol: 1e-5, rtol: 1e-4 },
  // gamma and beta stay float32 in a half case.
  dtypeInputs: [0],
  halfTolerance: {
    output: 4,
    gradient: 8,
    why: 'y is float32 arithmetic on the rounded x, rounded once; dx is rounded once but is a difference of terms of the size of dy (it cancels); dgamma and dbeta are float32 sums',
  },
});
