// ifaLoss(q, p, {target = 1, eps = 1e-6}): the intermediate feature approximation loss on NHWC
// features q, p [..., C]: per sample and pixel, cos = ⟨q,p⟩ / (max(‖q‖, eps)·max(‖p‖, eps)) over
// the channels, and the loss is the mean over all pixels of |target − cos|. The eps handling is
// torch.nn.functional.cosine_similarity's in PyTorch 1.13, which clamps each norm on its own
// (measured there: cos([1e-7, 0], [100, 0]) = 0.1 at eps 1e-6, not 1).
// One fused kernel each way: ifaLoss reads q and p once; ifaLossBackward reads them once and writes
// dq, plus dp when p requires grad (SimCLR; MoCo's p comes from the momentum encoder and needs none).
import type { KernelAttrs } from '../backends/backend.js';
import { formatShape } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { checkTensor, launch, launchOutputs, record, sameBackend } from './op.js';
import { registerOp } from './registry.js';

export interface IfaLossOptions {
  /** The cosine similarity the loss pulls toward (default 1). */
  target?: number;
  eps?: number;
}

export function ifaLoss(qIn: Tensor, pIn: Tensor, opts: IfaLossOptions = {}): Tensor {
  const op = 'ifaLoss';
  const q = checkTensor(qIn, op, 'q');
  const p = checkTensor(pIn, op, 'p');
  sameBackend(op, [q, p], ['q', 'p']);
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${op}: options must be an object`);
  const target = opts.target ?? 1;
  const eps = opts.eps ?? 1e-6;
  if (typeof target !== 'number' || !Number.isFinite(target)) throw new RangeError(`${op}: target must be a finite number, got ${String(target)}`);
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw new RangeError(`${op}: eps must be a finite number >= 0, got ${String(eps)}`);
  if (q.rank < 1 || q.shape[q.rank - 1] < 1) throw new RangeError(`${op}: q must be [..., C] with C >= 1, got ${formatShape(q.shape)}`);
  if (q.rank !== p.rank || q.shape.some((d, i) => d !== p.shape[i])) {
    throw new RangeError(`${op}: q ${formatShape(q.shape)} and p ${formatShape(p.shape)} must have the same shape`);
  }
  const attrs: KernelAttrs = { target, eps };
  const loss = launch({ op, kernel: 'ifaLoss', inputs: [q, p], outShape: [1], attrs });
  return record(loss, op, [q, p], (gy) => {
    const outShapes = p.requiresGrad ? [q.shape, p.shape] : [q.shape];
    const outs = launchOutputs({ op: `${op}.backward`, kernel: 'ifaLossBackward', inputs: [gy, q, p], outShapes, attrs });
    return [q.requiresGrad ? outs[0] : null, outs[1] ?? null];
  });
}

const cases = [
  { label: 'NHWC, C 7', shapes: [[2, 3, 3, 7], [2, 3, 3, 7]] },
  { label: 'batch 1, odd H and W, target 0.3', shapes: [[1, 3, 5, 6], [1, 3, 5, 6]], attrs: { target: 0.3 } },
  { label: 'one pixel of 70 channels (crosses the 64-channel block)', shapes: [[1, 1, 1, 70], [1, 1, 1, 70]] },
];

registerOp({
  name: 'ifaLoss',
  kernels: ['ifaLoss', 'ifaLossBackward'],
  cases,
  run: ([q, p], attrs) => ifaLoss(q, p, attrs as IfaLossOptions),
  tolerance: { atol: 1e-5, rtol: 1e-4 },
});

registerOp({
  name: 'ifaLoss (p without grad, as MoCo)',
  kernels: ['ifaLoss', 'ifaLossBackward'],
  cases,
  run: ([q, p], attrs) => ifaLoss(q, p, attrs as IfaLossOptions),
  tolerance: { atol: 1e-5, rtol: 1e-4 },
  noGradInputs: [1],
});
