// The contract every backend implements: storage, transfers and kernels by name. Shapes travel with
// each kernel call (storage is a flat array of one dtype), so reshapes are free.
//
// Kernel catalogue (inputs → outputs; attrs). Every backend implements the kernels it can; the CPU
// backend implements all of them and is the reference the conformance suite compares against.
//
// Dtypes: every tensor slot of a kernel is either T, the call's dtype (one dtype for all T slots of a
// call), or F, always float32; a backend says which T each kernel takes (kernelDtypes). Slots are T
// unless marked F below. The CPU takes float32, bfloat16 and float16 for every kernel but
// softmaxCrossEntropy(+Backward), sgd, ema and sgemm (float32 only), computing half kernels in fp32 on
// the widened inputs and rounding the outputs (the half reference). CUDA says per kernel (conv2d* and
// matmul are float32 there so far). WebGPU is float32 only.
//   add(a, b) → out            numpy broadcasting; out has the broadcast shape
//   mul(a, b) → out            same
//   broadcastTo(x) → out       out = scale · x broadcast to out's shape; attrs {scale = 1}
//   relu(x) → y
//   reluBackward(dy, y) → dx   dx = dy where y > 0, else 0
//   reduceSum(x) → y           y = scale · Σ over attrs.axes (all when absent); y holds the kept
//                              axes in row-major order; attrs {axes?: number[], scale = 1}
//   matmul(a, b) → c           c[M,N] = op(a)·op(b); attrs {transposeA, transposeB, tf32}
//   fill() → out               attrs {value}
//   cast(x) → y                y = x in y's dtype: any dtype in, any out (the one kernel whose slots
//                              are free); narrowing rounds to nearest even
//
// attrs.tf32 (matmul and the three conv2d kernels): setFloat32Precision('tf32') is on and the operands
// are float32, so a backend may read them as TF32 on tensor cores (CUDA). CPU kernels ignore it
// (they are always exact float32), as does WebGPU.
//
// The ResNet-50 / MoCo / SimCLR / IFA set (NHWC activations, [Cout,KH,KW,Cin] weights):
//   conv2d(x[N,H,W,Ci], w[Co,KH,KW,Ci]) → y[N,Ho,Wo,Co]        attrs {strideH, strideW, padH, padW, tf32}
//       Ho = (H + 2·padH − KH) / strideH + 1 (floor); zero padding; no bias (added by the op)
//   conv2dBackwardInput(dy[N,Ho,Wo,Co], w) → dx[N,H,W,Ci]       same attrs; H, W from dx's shape
//   conv2dBackwardFilter(x, dy) → F dw[Co,KH,KW,Ci]              same attrs; KH, KW from dw's shape;
//       the weight gradient is float32 from half activations
//   batchNormTrain(x[...,C], F gamma[C], F beta[C]) → y, F mean[C], F invStd[C]   attrs {eps, relu}
//       batch statistics over all but the last axis; invStd = 1/sqrt(biased var + eps);
//       y = relu?((x − mean)·invStd·gamma + beta)
//   batchNormEval(x, F gamma, F beta, F runningMean, F runningVar) → y    attrs {eps, relu}
//   batchNormBackward(dy, x, F gamma, F beta, F mean, F invStd) → dx, F dgamma, F dbeta   attrs {relu}
//       with relu, dy is masked where the (recomputed) output is ≤ 0
//   batchNormEvalBackward(dy, x, F gamma, F beta, F runningMean, F runningVar) → dx, F dgamma, F dbeta
//       attrs {eps, relu}: the affine gradient of eval mode
//   batchNormUpdateStats(mean, invStd) → runningMean, runningVar (in place, all F)  attrs {momentum, eps, count}
//       running = (1 − momentum)·running + momentum·batch, with the unbiased variance
//       (var·count/(count − 1)), as PyTorch
//   maxPool2d(x[N,H,W,C]) → y[N,Ho,Wo,C]        attrs {kernelH, kernelW, strideH, strideW, padH, padW}
//       padding is −∞; Ho as for conv
//   maxPool2dBackward(dy, x) → dx               same attrs; the gradient goes to the first maximum
//   l2Normalize(x) → y                          along the last axis: y = x / max(‖x‖₂, eps); attrs {eps}
//   l2NormalizeBackward(dy, x) → dx             attrs {eps}
//   concat(x0, x1, …) → y                       attrs {axis}
//   slice(x) → y                                attrs {axis, start}; length from y's shape
//   sliceBackward(dy) → dx                      attrs {axis, start}; zeros outside the slice
//   softmaxCrossEntropy(logits[N,K], labels[N]) → loss[1]     mean over N; labels hold class indices;
//       float32 only (with its backward)
//   softmaxCrossEntropyBackward(dloss[1], logits, labels) → dlogits
//   ifaLoss(q[...,C], p[...,C]) → F loss[1]     attrs {target, eps}: mean over pixels of
//       |target − cos(q, p)|, cos = ⟨q,p⟩ / (max(‖q‖, eps)·max(‖p‖, eps)), as
//       torch.nn.functional.cosine_similarity computes it in PyTorch 1.13 (each norm clamped)
//   ifaLossBackward(F dloss[1], q, p) → dq[, dp]  attrs {target, eps}; dp when two outputs are given
//   ifaLossWithGrad(q, p) → F loss[1], dq[, dp]   attrs {target, eps, gradScale = 1}: ifaLoss and
//       ifaLossBackward for dloss = gradScale in one pass over q and p; dp when three outputs are given
//   gatherRows(x) → y                           y[i] = x[index[i]] along axis 0; attrs {index: number[]}
//   copyRows(src) → dst (in place)             dst[start : start + rows(src)] = src; attrs {start}
//   sgd(grad0, …, gradK) → param0, …, paramK, momentum0, …, momentumK (in place)
//       attrs {lr, momentum, weightDecay, dampening, nesterov, firstStep}: PyTorch's SGD
//       (with momentum 0 the momentum outputs are left out); float32 only
//   ema(source0, …, sourceK) → target0, …, targetK (in place)   attrs {m}: t = m·t + (1 − m)·s;
//       float32 only

import type { DType } from '../core/dtype.js';

/** Every backend, in the order backends() reports them; src/backends/registry.ts has a row for each. */
export const BACKEND_NAMES = ['cpu', 'cuda', 'webgpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** A backend's buffer of numel values of one dtype. Opaque outside the backend that made it. */
export interface Storage {
  readonly backend: BackendName;
  readonly numel: number;
  readonly dtype: DType;
}

export interface TensorRef {
  readonly storage: Storage;
  readonly shape: readonly number[];
}

export type KernelAttrs = Record<string, number | boolean | number[] | undefined>;

export interface BackendStatus {
  name: BackendName;
  available: boolean;
  device?: string;
  reason?: string;
}

export interface BackendMemory {
  buffers: number;
  bytes: number;
  cachedBytes?: number;
  /** Live bytes by dtype, numel · element size as allocated (a cuda `bytes` counts whole blocks). */
  dtypeBytes?: Record<DType, number>;
}

export interface Backend {
  readonly name: BackendName;
  status(): BackendStatus;
  hasKernel(kernel: string): boolean;
  /** The dtypes a kernel's T slots take on this backend (empty when the kernel is missing). */
  kernelDtypes(kernel: string): readonly DType[];
  /**
   * New storage of numel elements of dtype (default float32), filled from data when given
   * (data.length must equal numel; values are rounded to the dtype, to nearest even).
   */
  alloc(numel: number, data?: Float32Array, dtype?: DType): Storage;
  free(storage: Storage): void;
  /** Overwrites storage with data (rounded to its dtype), ordered after the work already queued. */
  write(storage: Storage, data: Float32Array): void;
  /** Resolves with a copy of storage as float32 (exact) once the queued work before it is done. */
  read(storage: Storage): Promise<Float32Array>;
  /** Resolves when all queued work is done; rejects with the first kernel error since the last sync. */
  sync(): Promise<void>;
  /** Validates and enqueues a kernel; returns at once. Throws TypeError/RangeError naming the kernel. */
  run(kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs?: KernelAttrs): void;
  memory(): BackendMemory;
}
