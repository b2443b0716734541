// Training precision (issue 15 item 2), as PyTorch users choose it:
//   fp32  exact float32 everywhere (the reference).
//   tf32  float32 tensors; the CUDA tensor-core kernels read convolution and matmul operands as TF32
//         (setFloat32Precision('tf32'), PyTorch's default for cuDNN convolutions). The CPU's kernels
//         ignore it, so on the CPU tf32 is fp32 exactly.
//   bf16  mixed precision as torch.autocast(bfloat16) runs it: master weights, SGD momenta, MoCo's key
//         encoder and queue stay float32; the encoder's activations (and what backward saves) are
//         bfloat16, each convolution reading a bfloat16 cast of its float32 weight, whose float32
//         gradient goes back to the master unrounded (ops/cast.ts); BN statistics, the pooled
//         features, the projection head, the contrastive logits and the IFA arithmetic are float32.
//   fp16  the same in float16 (V100's tensor-core dtype), with dynamic loss scaling for float16's
//         range (src/optim/grad-scaler.ts, PyTorch's GradScaler rules; its state in the checkpoint).
// The default is tf32 on a CUDA device whose tensor cores take TF32 (sm_80 and newer), fp32 elsewhere.
import type { BackendName } from '../backends/backend.js';
import { getBackend } from '../backends/registry.js';
import type { DType } from '../core/dtype.js';
import { type Float32Precision, getFloat32Precision, setFloat32Precision } from '../core/precision.js';

export const PRECISIONS = ['fp32', 'tf32', 'bf16', 'fp16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** The dtype the encoder's activations are computed in. */
export function activationDtype(p: Precision): DType {
  return p === 'bf16' ? 'bfloat16' : p === 'fp16' ? 'float16' : 'float32';
}

/**
 * The precision a run uses: the one asked for, checked against what the backend's convolutions take,
 * or the default (tf32 where the backend runs TF32 tensor-core convolutions, else fp32). The
 * backend must be initialised. Errors name the precision, the backend and the fix.
 */
export function resolvePrecision(asked: Precision | undefined, backend: BackendName): Precision {
  const convDtypes = getBackend(backend).kernelDtypes('conv2d');
  const tensorCores = backend === 'cuda' && convDtypes.includes('bfloat16');
  if (asked === undefined) return tensorCores ? 'tf32' : 'fp32';
  if (!(PRECISIONS as readonly string[]).includes(asked)) throw new RangeError(`precision must be one of ${PRECISIONS.join(', ')}, got '${String(asked)}'`);
  const dt = activationDtype(asked);
  if (!convDtypes.includes(dt)) {
    const instead = convDtypes.includes('float16') ? 'fp16 or fp32' : 'fp32';
    throw new RangeError(`precision ${asked}: the ${backend} backend's convolutions take ${convDtypes.join(', ') || 'no dtype'}, not ${dt}; use precision ${instead}${backend === 'webgpu' ? ' (WebGPU stores float32 only)' : ''}`);
  }
  return asked;
}

/** Runs fn with the process-wide float32 precision this training precision asks, restoring it after. */
export async function withPrecision<T>(p: Precision, fn: () => Promise<T>): Promise<T> {
  const before: Float32Precision = getFloat32Precision();
  setFloat32Precision(p === 'tf32' ? 'tf32' : 'highest');
  try {
    return await fn();
  } finally {
    setFloat32Precision(before);
  }
}
