// ifaLoss(q, p, {target = 1, eps = 1e-6, gradScale}): the intermediate feature approximation loss on
// NHWC features q, p [..., C]: per sample and pixel, cos = ⟨q,p⟩ / (max(‖q‖, eps)·max(‖p‖, eps)) over
// the channels, and the loss is the mean over all pixels of |target − cos|. The eps handling is
// torch.nn.functional.cosine_similarity's in PyTorch 1.13, which clamps each norm on its own
// (measured there: cos([1e-7, 0], [100, 0]) = 0.1 at eps 1e-6, not 1).
// One fused kernel each way: ifaLoss reads q and p once; ifaLossBackward reads them once and writes
// dq, plus dp when p requires grad (SimCLR; MoCo's p comes from the momentum encoder and needs none).
// With gradScale (the upstream gradient dL/dloss, known on the host for a weighted training loss)
// a recorded call runs ifaLossWithGrad instead: the loss and dq (dp) in one pass over q and p, 3N·4
// bytes (4N with dp) instead of (2N + 3N)·4 (2N + 4N); the backward hands those out when its
// upstream gradient is known to equal gradScale (Tensor.knownValue), and otherwise runs
// ifaLossBackward.
// Dtypes: q and p share one dtype (dq, dp have it); the loss and its upstream gradient are float32
// and the arithmetic is float32 whatever q and p are (half inputs, as under PyTorch AMP).
import type { KernelAttrs } from '../backends/backend.js';
import { isGradEnabled } from '../core/engine.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { gradIn } from './cast.js';
import { checkTensor, launch, launchOutputs, record, sameBackend, sameDtype } from './op.js';
import { registerOp } from './registry.js';
import { scale } from './scale.js';

export interface IfaLossOptions {
  /** The cosine similarity the loss pulls toward (default 1). */
  target?: number;
  eps?: number;
  /**
   * The gradient the final loss will have with respect to this one (its weight in a sum that
   * backward() seeds with 1). Lets a recorded call compute the gradients in the forward pass; any
   * other upstream gradient still gets the right result, by a second pass. The precomputed
   * gradients live until backward uses them or the enclosing tidy() ends.
   */
  gradScale?: number;
}

export function ifaLoss(qIn: Tensor, pIn: Tensor, opts: IfaLossOptions = {}): Tensor {
  const op = 'ifaLoss';
  const q = checkTensor(qIn, op, 'q');
  const p = checkTensor(pIn, op, 'p');
  sameBackend(op, [q, p], ['q', 'p']);
  sameDtype(op, [q, p], ['q', 'p']);
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${op}: options must be an object`);
  const target = opts.target ?? 1;
  const eps = opts.eps ?? 1e-6;
  const gradScale = opts.gradScale;
  if (typeof target !== 'number' || !Number.isFinite(target)) throw new RangeError(`${op}: target must be a finite number, got ${String(target)}`);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw new RangeError(`${op}: eps must be a finite number >= 0, got ${String(eps)}`);
  if (gradScale !== undefined && (typeof gradScale !== 'number' || !Number.isFinite(gradScale))) {
    throw new RangeError(`${op}: gradScale must be a finite number, got ${String(gradScale)}`);
  }
  if (q.rank < 1 || q.shape[q.rank - 1] < 1) throw new RangeError(`${op}: q must be [..., C] with C >= 1, got ${formatShape(q.shape)}`);
  if (q.rank !== p.rank || q.shape.some((d, i) => d !== p.shape[i])) {
    throw new RangeError(`${op}: q ${formatShape(q.shape)} and p ${formatShape(p.shape)} must have the same shape`);
  }
  const attrs: KernelAttrs = { target, eps };
  const backwardPass = (gy: Tensor): (Tensor | null)[] => {
    const outShapes = p.requiresGrad ? [q.shape, p.shape] : [q.shape];
    const outs = launchOutputs({
      op: `${op}.backward`,
      kernel: 'ifaLossBackward',
      inputs: [gradIn(gy, 'float32'), q, p],
      outShapes,
      outDtypes: outShapes.map(() => q.dtype),
      attrs,
    });
    return [q.requiresGrad ? outs[0] : null, outs[1] ?? null];
  };
  if (gradScale === undefined || !isGradEnabled() || !(q.requiresGrad || p.requiresGrad)) {
    const loss = launch({ op, kernel: 'ifaLoss', inputs: [q, p], outShape: [1], outDtype: 'float32', attrs });
    return record(loss, op, [q, p], backwardPass);
  }
  const outShapes = p.requiresGrad ? [[1], q.shape, p.shape] : [[1], q.shape];
  const [loss, ...grads] = launchOutputs({
    op,
    kernel: 'ifaLossWithGrad',
    inputs: [q, p],
    outShapes,
    outDtypes: ['float32', q.dtype, q.dtype],
    attrs: { ...attrs, gradScale },
  });
  // dq[, dp] for an upstream gradient of gradScale; used at most once.
  let ahead: Tensor[] | null = grads;
  return record(loss, op, [q, p], (gy) => {
    const pre = ahead;
    ahead = null;
    if (pre && gy.knownValue === gradScale && pre.every((t) => !t.isDisposed)) {
      if (!q.requiresGrad) pre[0].dispose();
      return [q.requiresGrad ? pre[0] : null, pre[1] ?? null];
    }
    pre?.forEach((t) => t.dispose());
    return backwardPass(gy);
  });
}

const cases = [
  { label: 'NHWC, C 7', shapes: [[2, 3, 3, 7], [2, 3, 3, 7]] },
  { label: 'batch 1, odd H and W, target 0.3', shapes: [[1, 3, 5, 6], [1, 3, 5, 6]], attrs: { target: 0.3 } },
  { label: 'one pixel of 70 channels (crosses the 64-channel block)', shapes: [[1, 1, 1, 70], [1, 1, 1, 70]] },
];

// The loss is float32 arithmetic on the rounded q and p (exact against the float32 run on them); dq
// and dp are rounded once.
const ifaHalf = { output: 2, gradient: 4, why: 'the loss is float32 from the rounded q and p; dq and dp are float32 arithmetic rounded once' };

registerOp({
  name: 'ifaLoss',
  kernels: ['ifaLoss', 'ifaLossBackward'],
  cases,
  run: ([q, p], attrs) => ifaLoss(q, p, attrs as IfaLossOptions),
  tolerance: { atol: 1e-5, rtol: 1e-4 },
  halfTolerance: ifaHalf,
});

registerOp({
  name: 'ifaLoss (p without grad, as MoCo)',
  kernels: ['ifaLoss', 'ifaLossBackward'],
  cases,
  run: ([q, p], attrs) => ifaLoss(q, p, attrs as IfaLossOptions),
  tolerance: { atol: 1e-5, rtol: 1e-4 },
  halfTolerance: ifaHalf,
  noGradInputs: [1],
});

// gradScale: the loss is scaled by the same weight, and backward() starts at the output with the seed
// 1, so the upstream gradient of ifaLoss is known to be gradScale and the precomputed gradients are
// used (ifaLossWithGrad). Under noGrad (the finite differences) the plain ifaLoss runs.
const fusedCases = [
  ...cases.map((c, i) => ({ ...c, attrs: { ...c.attrs, gradScale: [1, 0.7, -2][i] } })),
  { label: 'C 132 (float4 rows of two vectors per lane on CUDA), weight 0.5', shapes: [[2, 2, 3, 132], [2, 2, 3, 132]], attrs: { gradScale: 0.5 } },
  { label: 'C 516 (eight vectors per lane on CUDA), target 0.3', shapes: [[1, 1, 2, 516], [1, 1, 2, 516]], attrs: { target: 0.3, gradScale: 1 } },
];
const runFused = ([q, p]: Tensor[], attrs: Record<string, unknown>): Tensor => {
  const w = attrs.gradScale as number;
  return scale(ifaLoss(q, p, attrs as IfaLossOptions), w);
};

registerOp({
  name: 'ifaLoss with gradScale (forward and backward in one pass)',
  kernels: ['ifaLoss', 'ifaLossWithGrad', 'broadcastTo'],
  cases: fusedCases,
  run: runFused,
  tolerance: { atol: 1e-5, rtol: 1e-4 },
  halfTolerance: ifaHalf,
  seedBackward: true,
});

registerOp({
  name: 'ifaLoss with gradScale (p without grad, as MoCo)',
  kernels: ['ifaLoss', 'ifaLossWithGrad', 'broadcastTo'],
  cases: fusedCases,
  run: runFused,
  tolerance: { atol: 1e-5, rtol: 1e-4 },
  halfTolerance: ifaHalf,
  noGradInputs: [1],
  seedBackward: true,
});

// The same calls with an upstream gradient that is not the one announced (Σ out·R): the
// precomputed gradients are dropped and ifaLossBackward runs.
registerOp({
  name: 'ifaLoss with gradScale, another upstream gradient',
  kernels: ['ifaLoss', 'ifaLossWithGrad', 'ifaLossBackward', 'broadcastTo'],
  cases: fusedCases.slice(0, 3),
  run: runFused,
  tolerance: { atol: 1e-5, rtol: 1e-4 },
  halfTolerance: ifaHalf,
});
