// The contract every backend implements: storage, transfers and kernels by name. Shapes travel with
// each kernel call (storage is a flat float32 array), so reshapes are free.
//
// Kernel catalogue (inputs → outputs; attrs). Every backend implements the kernels it can; the CPU
// backend implements all of them and is the reference the conformance suite compares against.
//   add(a, b) → out            numpy broadcasting; out has the broadcast shape
//   mul(a, b) → out            same
//   broadcastTo(x) → out       out = scale · x broadcast to out's shape; attrs {scale = 1}
//   relu(x) → y
//   reluBackward(dy, y) → dx   dx = dy where y > 0, else 0
//   reduceSum(x) → y           y = scale · Σ over attrs.axes (all when absent); y holds the kept
//                              axes in row-major order; attrs {axes?: number[], scale = 1}
//   matmul(a, b) → c           c[M,N] = op(a)·op(b); attrs {transposeA, transposeB}
//   fill() → out               attrs {value}
//
// The ResNet-50 / MoCo / SimCLR / IFA set (NHWC activations, [Cout,KH,KW,Cin] weights):
//   conv2d(x[N,H,W,Ci], w[Co,KH,KW,Ci]) → y[N,Ho,Wo,Co]        attrs {strideH, strideW, padH, padW}
//       Ho = (H + 2·padH − KH) / strideH + 1 (floor); zero padding; no bias (added by the op)
//   conv2dBackwardInput(dy[N,Ho,Wo,Co], w) → dx[N,H,W,Ci]       same attrs; H, W from dx's shape
//   conv2dBackwardFilter(x, dy) → dw[Co,KH,KW,Ci]                same attrs; KH, KW from dw's shape
//   batchNormTrain(x[...,C], gamma[C], beta[C]) → y, mean[C], invStd[C]   attrs {eps, relu}
//       batch statistics over all but the last axis; invStd = 1/sqrt(biased var + eps);
//       y = relu?((x − mean)·invStd·gamma + beta)
//   batchNormEval(x, gamma, beta, runningMean, runningVar) → y    attrs {eps, relu}
//   batchNormBackward(dy, x, gamma, beta, mean, invStd) → dx, dgamma, dbeta   attrs {relu}
//       with relu, dy is masked where the (recomputed) output is ≤ 0
//   batchNormEvalBackward(dy, x, gamma, beta, runningMean, runningVar) → dx, dgamma, dbeta
//       attrs {eps, relu}: the affine gradient of eval mode
//   batchNormUpdateStats(mean, invStd) → runningMean, runningVar (in place)  attrs {momentum, eps, count}
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
//   softmaxCrossEntropy(logits[N,K], labels[N]) → loss[1]     mean over N; labels hold class indices
//   softmaxCrossEntropyBackward(dloss[1], logits, labels) → dlogits
//   ifaLoss(q[...,C], p[...,C]) → loss[1]       attrs {target, eps}: mean over pixels of
//       |target − cos(q, p)|, cos = ⟨q,p⟩ / (max(‖q‖, eps)·max(‖p‖, eps)), as
//       torch.nn.functional.cosine_similarity computes it in PyTorch 1.13 (each norm clamped)
//   ifaLossBackward(dloss[1], q, p) → dq[, dp]  attrs {target, eps}; dp when two outputs are given
//   ifaLossWithGrad(q, p) → loss[1], dq[, dp]   attrs {target, eps, gradScale = 1}: ifaLoss and
//       ifaLossBackward for dloss = gradScale in one pass over q and p; dp when three outputs are given
//   gatherRows(x) → y                           y[i] = x[index[i]] along axis 0; attrs {index: number[]}
//   copyRows(src) → dst (in place)             dst[start : start + rows(src)] = src; attrs {start}
//   sgd(grad0, …, gradK) → param0, …, paramK, momentum0, …, momentumK (in place)
//       attrs {lr, momentum, weightDecay, dampening, nesterov, firstStep}: PyTorch's SGD
//       (with momentum 0 the momentum outputs are left out)
//   ema(source0, …, sourceK) → target0, …, targetK (in place)   attrs {m}: t = m·t + (1 − m)·s

export type BackendName = 'cpu' | 'cuda' | 'webgpu';
export const BACKEND_NAMES: readonly BackendName[] = ['cpu', 'cuda', 'webgpu'];

/** A backend's buffer of float32 values. Opaque outside the backend that made it. */
export interface Storage {
  readonly backend: BackendName;
  readonly numel: number;
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
}

export interface Backend {
  readonly name: BackendName;
  status(): BackendStatus;
  hasKernel(kernel: string): boolean;
  /** New storage of numel elements, filled from data when given (data.length must equal numel). */
  alloc(numel: number, data?: Float32Array): Storage;
  free(storage: Storage): void;
  /** Overwrites storage with data, ordered after the work already queued. */
  write(storage: Storage, data: Float32Array): void;
  /** Resolves with a copy of storage once the queued work before it is done. */
  read(storage: Storage): Promise<Float32Array>;
  /** Resolves when all queued work is done; rejects with the first kernel error since the last sync. */
  sync(): Promise<void>;
  /** Validates and enqueues a kernel; returns at once. Throws TypeError/RangeError naming the kernel. */
  run(kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs?: KernelAttrs): void;
  memory(): BackendMemory;
}
