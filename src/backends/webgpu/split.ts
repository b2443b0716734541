// Kernel calls whose tensors are larger than one storage binding (maxStorageBufferBindingSize: 128
// MiB on lavapipe, and on many GPUs' Vulkan drivers), run as several calls over slices of the batch
// (issue 21 item 2). A kernel qualifies when every sample is computed from its own slice alone: its
// split tensors share the leading dimension N and are bound as views (offset and size) of their
// buffers, chunk by chunk, while its other inputs (a convolution's weight, a matmul's right operand,
// the Gaussian table) are bound whole. The chunk is the most samples every split tensor's binding
// can hold, rounded so that each view starts on minStorageBufferOffsetAlignment.
// Two kernels that reduce over the batch split too, each its own way ('mode'):
//   - batch norm (train and eval, forward and backward): one plan whose per-row passes (the partial
//     statistics or gradient sums, and the normalise or dx sweep) run chunk by chunk over views,
//     while the per-channel passes merge every chunk's blocks at once (kernels-ssl.ts), so the
//     result is the unsplit one's up to the order of the block merge;
//   - conv2dBackwardFilter: the weight gradient is a sum over samples, so each chunk's dw is added
//     into the first (the backend runs the chunks, add and a copy).
// The other kernels that reduce over the batch (sums, losses) are refused past the limit, naming
// the kernel and the limit. IFA_WEBGPU_BINDING_LIMIT=<bytes> lowers the limit the backend splits at
// (never raises it), so that a test can split small tensors.
import type { KernelAttrs, TensorRef } from '../backend.js';
import { WebGPUStorage } from './storage.js';

/** Per input (and output): 's' split along dimension 0, 'w' bound whole. */
interface SplitSpec {
  inputs: string;
  /** Per output; default every output split. */
  outputs?: string;
  /** 'calls' (default): one call per chunk; 'plan': the kernel's plan takes the chunk; 'sum': chunk results are added. */
  mode?: SplitMode;
  /** Extra conditions on the call (same shapes, no transposed left operand). */
  ok?: (inputs: readonly TensorRef[], attrs: KernelAttrs) => boolean;
}

const sameShapes = (ins: readonly TensorRef[]) => ins.every((t) => t.shape.length === ins[0].shape.length && t.shape.every((d, i) => d === ins[0].shape[i]));

export const SPLITTABLE: Readonly<Record<string, SplitSpec>> = {
  add: { inputs: 'ss', ok: sameShapes },
  mul: { inputs: 'ss', ok: sameShapes },
  relu: { inputs: 's' },
  reluBackward: { inputs: 'ss' },
  addRelu: { inputs: 'ss' },
  fill: { inputs: '' },
  conv2d: { inputs: 'sw' },
  conv2dBackwardInput: { inputs: 'sw' },
  maxPool2d: { inputs: 's' },
  maxPool2dBackward: { inputs: 'ss' },
  matmul: { inputs: 'sw', ok: (_ins, a) => !a.transposeA },
  augmentPointwise: { inputs: 'ss' },
  augmentWarpAffine: { inputs: 'ss' },
  augmentOptical: { inputs: 'ss' },
  augmentMedian3: { inputs: 'ss' },
  augmentTaps: { inputs: 'ss' },
  augmentSharpen: { inputs: 'ss' },
  augmentCutout: { inputs: 'ss' },
  augmentGaussNoise: { inputs: 'ssw' },
  augmentMulNoise: { inputs: 'ss' },
  batchNormEval: { inputs: 'swwww' },
  batchNormTrain: { inputs: 'sww', outputs: 'sww', mode: 'plan' },
  batchNormBackward: { inputs: 'sswwww', outputs: 'sww', mode: 'plan' },
  batchNormEvalBackward: { inputs: 'sswwww', outputs: 'sww', mode: 'plan' },
  conv2dBackwardFilter: { inputs: 'ss', outputs: 'w', mode: 'sum' },
};

export type SplitMode = 'calls' | 'plan' | 'sum';

/** The binding size the backend splits at: the device's, or IFA_WEBGPU_BINDING_LIMIT when that is smaller. */
export function bindingLimit(deviceLimit: number): number {
  const raw = process.env.IFA_WEBGPU_BINDING_LIMIT;
  if (raw === undefined || raw === '') return deviceLimit;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 256) throw new RangeError(`IFA_WEBGPU_BINDING_LIMIT must be an integer number of bytes ≥ 256, got ${JSON.stringify(raw)}`);
  return Math.min(deviceLimit, v);
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export interface SplitPlan {
  /** Samples per call (the last call may take fewer). */
  chunk: number;
  /** Leading dimension of the split tensors. */
  n: number;
  mode: SplitMode;
}

const isSplit = (spec: SplitSpec, side: 'inputs' | 'outputs', i: number): boolean => (side === 'inputs' ? spec.inputs[i] === 's' : (spec.outputs?.[i] ?? 's') === 's');

/**
 * How to split a call whose bindings exceed maxBinding, or why it cannot be: a string naming the
 * reason. inputs/outputs must be WebGPU storages (checked by the caller).
 */
export function planSplit(kernel: string, inputs: readonly TensorRef[], outputs: readonly TensorRef[], attrs: KernelAttrs, maxBinding: number, alignment: number): SplitPlan | string {
  const spec = Object.hasOwn(SPLITTABLE, kernel) ? SPLITTABLE[kernel] : undefined;
  if (!spec) return `${kernel} reduces over the batch or mixes samples, so it cannot be split into calls over slices of it`;
  if (spec.inputs.length !== inputs.length || (spec.outputs && spec.outputs.length !== outputs.length) || (spec.ok && !spec.ok(inputs, attrs))) {
    return `this ${kernel} call (broadcast or transposed operands) cannot be split along its batch`;
  }
  const split = [...inputs.filter((_, i) => isSplit(spec, 'inputs', i)), ...outputs.filter((_, i) => isSplit(spec, 'outputs', i))];
  const whole = [...inputs.filter((_, i) => !isSplit(spec, 'inputs', i)), ...outputs.filter((_, i) => !isSplit(spec, 'outputs', i))];
  for (const t of whole) if ((t.storage as WebGPUStorage).byteSize > maxBinding) return `its whole operand [${t.shape.join(',')}] alone is past the limit`;
  const n = split[0]?.shape[0];
  if (n === undefined || split.some((t) => t.shape.length === 0 || t.shape[0] !== n)) return 'its tensors do not share a leading (batch) dimension';
  let chunk = n;
  let step = 1;
  for (const t of split) {
    const perSample = ((t.storage as WebGPUStorage).numel / n) * 4;
    if (perSample === 0) continue;
    chunk = Math.min(chunk, Math.floor(maxBinding / perSample));
    const need = alignment / gcd(perSample, alignment);
    step = (step * need) / gcd(step, need);
  }
  chunk = Math.floor(chunk / step) * step;
  if (chunk < 1) return `one slice of its batch is past the limit (or cannot start on the ${alignment}-byte binding alignment)`;
  return { chunk, n, mode: spec.mode ?? 'calls' };
}

/** Tensor t's samples [s, s + count) as a view of its buffer (n: t's leading dimension). */
export function sliceOf(t: { shape: readonly number[]; storage: WebGPUStorage }, n: number, s: number, count: number): { shape: number[]; storage: WebGPUStorage } {
  const per = t.storage.numel / n;
  return { shape: [count, ...t.shape.slice(1)], storage: t.storage.view(s * per, count * per) };
}

/** The calls of a split: per chunk, the inputs and outputs as views of their buffers. */
export function* splitCalls(kernel: string, plan: SplitPlan, inputs: readonly TensorRef[], outputs: readonly TensorRef[]): Generator<[TensorRef[], TensorRef[]]> {
  const spec = SPLITTABLE[kernel];
  const slice = (t: TensorRef, s: number, count: number): TensorRef => sliceOf({ shape: t.shape, storage: t.storage as WebGPUStorage }, plan.n, s, count);
  for (let s = 0; s < plan.n; s += plan.chunk) {
    const count = Math.min(plan.chunk, plan.n - s);
    yield [inputs.map((t, i) => (isSplit(spec, 'inputs', i) ? slice(t, s, count) : t)), outputs.map((t, i) => (isSplit(spec, 'outputs', i) ? slice(t, s, count) : t))];
  }
}
