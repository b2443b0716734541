// The one path every op takes: check its inputs are live and on one backend (and of the dtypes the
// kernel needs), allocate the output, enqueue the kernel, and record the gradient rule when autograd
// needs it. Outputs take the first input's dtype unless the op says otherwise (float32 statistics,
// losses and weight gradients).
import type { KernelAttrs } from '../backends/backend.js';
import type { KernelName } from '../backends/kernels.js';
import { getBackend } from '../backends/registry.js';
import type { DType } from '../core/dtype.js';
import { dispatchKernel, isGradEnabled } from '../core/engine.js';
import { formatShape, type Shape } from '../core/shape.js';
import { Tensor, emptyTensor, type GradNode } from '../core/tensor.js';

export function checkTensor(v: unknown, op: string, what: string): Tensor {
  if (!(v instanceof Tensor)) throw new TypeError(`${op}: ${what} must be a Tensor, got ${v === null ? 'null' : typeof v}`);
  if (v.isDisposed) throw new Error(`${op}: ${what} was disposed (shape ${formatShape(v.shape)}, ${v.backend})`);
  return v;
}

export function sameBackend(op: string, inputs: Tensor[], names: string[]): void {
  for (let i = 1; i < inputs.length; i++) {
    if (inputs[i].backend !== inputs[0].backend) {
      throw new Error(
        `${op}: ${names[0]} is on ${inputs[0].backend} but ${names[i]} is on ${inputs[i].backend}; move one with await t.to('${inputs[0].backend}')`,
      );
    }
  }
}

/**
 * Throws a TypeError naming the op, both dtypes and the fix unless every tensor has one dtype (the
 * inputs a kernel takes in its call's dtype).
 */
export function sameDtype(op: string, inputs: Tensor[], names: string[]): void {
  for (let i = 1; i < inputs.length; i++) {
    if (inputs[i].dtype !== inputs[0].dtype) {
      throw new TypeError(
        `${op}: ${names[0]} is ${inputs[0].dtype} but ${names[i]} is ${inputs[i].dtype}; cast one, e.g. cast(${names[i]}, '${inputs[0].dtype}')`,
      );
    }
  }
}

/** Throws a TypeError naming the op unless t is float32 (statistics, affine parameters, labels). */
export function expectFloat32(op: string, t: Tensor, what: string): void {
  if (t.dtype !== 'float32') throw new TypeError(`${op}: ${what} must be float32, got ${t.dtype}; convert it with cast(${what}, 'float32')`);
}

export interface KernelLaunch {
  op: string;
  /** A kernel of the table (src/backends/kernels.ts); the op passes every attribute it requires. */
  kernel: KernelName;
  inputs: Tensor[];
  /** Shapes the kernel sees for the inputs (defaults to theirs). */
  inputShapes?: Shape[];
  outShape: Shape;
  /** The output's dtype (default: the first input's). */
  outDtype?: DType;
  attrs?: KernelAttrs;
}

/** Runs one kernel into a new output tensor. */
export function launch(k: KernelLaunch): Tensor {
  return launchOutputs({ ...k, outShapes: [k.outShape], outDtypes: k.outDtype ? [k.outDtype] : undefined })[0];
}

/**
 * Runs one kernel into several new output tensors (batch norm's y, mean, invStd; IFA's dq, dp),
 * of the dtypes given (each defaults to the first input's).
 */
export function launchOutputs(k: Omit<KernelLaunch, 'outShape' | 'outDtype'> & { outShapes: Shape[]; outDtypes?: (DType | undefined)[] }): Tensor[] {
  const backendName = k.inputs[0].backend;
  const backend = getBackend(backendName);
  if (!backend.hasKernel(k.kernel)) {
    throw new Error(`${k.op}: kernel ${k.kernel} is not implemented on the ${backendName} backend`);
  }
  const outs = k.outShapes.map((s, i) => emptyTensor(s, backendName, k.outDtypes?.[i] ?? k.inputs[0].dtype));
  try {
    dispatchKernel(
      backend,
      k.op,
      k.kernel,
      k.inputs.map((t, i) => t.ref(k.inputShapes?.[i] ?? t.shape)),
      outs.map((t) => t.ref()),
      k.attrs ?? {},
    );
  } catch (e) {
    for (const t of outs) t.dispose();
    throw e;
  }
  return outs;
}

/** Attaches a gradient rule to out when grad mode is on and some input requires grad. */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: GradNode['backward']): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

export interface InPlaceLaunch {
  op: string;
  kernel: KernelName;
  inputs: Tensor[];
  /** Tensors the kernel updates in place (read and written), e.g. parameters and momentum buffers. */
  outputs: Tensor[];
  attrs?: KernelAttrs;
}

/** Runs a kernel that updates existing tensors in place (never recorded for autograd). */
export function launchInPlace(k: InPlaceLaunch): void {
  const all = [...k.inputs, ...k.outputs];
  if (all.length === 0) return;
  const backendName = all[0].backend;
  sameBackend(k.op, all, all.map((_, i) => (i < k.inputs.length ? `input ${i}` : `tensor ${i - k.inputs.length}`)));
  const backend = getBackend(backendName);
  if (!backend.hasKernel(k.kernel)) {
    throw new Error(`${k.op}: kernel ${k.kernel} is not implemented on the ${backendName} backend`);
  }
  dispatchKernel(backend, k.op, k.kernel, k.inputs.map((t) => t.ref()), k.outputs.map((t) => t.ref()), k.attrs ?? {});
  for (const t of k.outputs) t.knownValue = undefined;
}
