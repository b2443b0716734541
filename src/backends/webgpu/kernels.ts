// Launch plans for the WebGPU backend and the one entry, planKernel, that checks a call and plans it.
// The checks are the addon's: its validator for the kernel (kernels/cpu/*.cc, the one every backend
// uses), called through validate(), so the messages are the CPU's by construction. A plan says which
// entry point of which shader runs, what it binds, its parameter words and how many workgroups it
// needs; the backend turns it into a compute pass.
import type { KernelAttrs, TensorRef } from '../backend.js';
import { nativeAddon } from '../../native.js';
import type { ShaderFile } from './shaders.js';
import { type WebGPUStorage, webgpuStorage } from './storage.js';
import { AUGMENT_SPECS } from './kernels-augment.js';
import { EXTRA_SPECS } from './kernels-ssl.js';
import { Attrs, type Checked, type KernelPlan, type KernelSpec, type Resource, PARAM_WORDS, formatShape, newParams, numelOf, sameShape } from './plan.js';

export { MAX_RANK, PARAM_WORDS, formatShape } from './plan.js';
export type { KernelPlan, Pass, Resource, Scratch } from './plan.js';

const WG = 256;

/** Strides of `inp` as seen from an output of shape `out` (0 along broadcast dimensions). */
function broadcastStrides(inp: number[], out: number[]): number[] {
  const r = out.length;
  const st = new Array<number>(r).fill(0);
  let s = 1;
  for (let i = 0; i < inp.length; i++) {
    const di = inp.length - 1 - i;
    st[r - 1 - i] = inp[di] === 1 ? 0 : s;
    s *= inp[di];
  }
  return st;
}

/**
 * Drops size-1 dimensions and merges neighbours that are contiguous in every stride list, so the
 * shader walks as few dimensions as possible. Row-major order of the walk is unchanged.
 */
export function collapse(shape: number[], strides: number[][]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, j) => outStrides[j][last] === s[d] * shape[d])) {
      outShape[last] *= shape[d];
      strides.forEach((s, j) => (outStrides[j][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, j) => outStrides[j].push(s[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** The original one-pass layout: inputs at bindings 0 and 1, the output at 2, params at 3. */
function single(file: ShaderFile, entry: string, ins: Checked[], out: Checked, params: Uint32Array<ArrayBuffer>, workgroups: number): KernelPlan {
  const bind: Array<[number, Resource]> = ins.map((t, i) => [i, t.storage]);
  bind.push([2, out.storage]);
  return { passes: [{ file, entry, bind, paramsAt: 3, params, workgroups }] };
}

function elementwisePlan(entry: string, ins: Checked[], out: Checked, scale: number): KernelPlan {
  const n = out.storage.numel;
  const { u, f } = newParams();
  u[0] = n;
  f[2] = scale;
  const strides = ins.map((t) => broadcastStrides(t.shape, out.shape));
  const c = collapse(out.shape, strides);
  u[1] = c.shape.length;
  c.shape.forEach((d, i) => {
    u[8 + i] = d;
    u[16 + i] = c.strides[0]?.[i] ?? 0;
    u[24 + i] = c.strides[1]?.[i] ?? 0;
  });
  return single('elementwise', entry, ins, out, u, Math.ceil(n / WG));
}

function binary(op: 'add' | 'mul'): KernelSpec {
  return (ins, [out]) => {
    const flat = sameShape(ins[0].shape, out.shape) && sameShape(ins[1].shape, out.shape);
    return elementwisePlan(flat ? `${op}Flat` : op, ins, out, 1);
  };
}

function reducedMask(xs: number[], attrs: Attrs): boolean[] {
  const axes = attrs.list('axes');
  if (!axes) return xs.map(() => true);
  const mask = xs.map(() => false);
  for (const a of axes) mask[a < 0 ? a + xs.length : a] = true;
  return mask;
}

/** Tree-reduce in a workgroup once a reduction is at least this long. */
const PER_WORKGROUP_MIN = 128;

const reduceSum: KernelSpec = (ins, [out], attrs) => {
  const xs = ins[0].shape;
  const mask = reducedMask(xs, attrs);
  const kept = out.storage.numel;
  const scale = attrs.num('scale', 1);
  const stride = new Array<number>(xs.length).fill(1);
  for (let i = xs.length - 2; i >= 0; i--) stride[i] = stride[i + 1] * xs[i + 1];
  const pick = (red: boolean) => {
    const dims = xs.map((_, i) => i).filter((i) => mask[i] === red);
    return collapse(
      dims.map((i) => xs[i]),
      [dims.map((i) => stride[i])],
    );
  };
  const keptDims = pick(false);
  const redDims = pick(true);
  const count = numelOf(redDims.shape);
  const { u, f } = newParams();
  u[0] = kept;
  u[1] = count;
  u[2] = keptDims.shape.length;
  u[3] = redDims.shape.length;
  f[4] = scale;
  keptDims.shape.forEach((d, i) => ((u[8 + i] = d), (u[16 + i] = keptDims.strides[0][i])));
  redDims.shape.forEach((d, i) => ((u[24 + i] = d), (u[32 + i] = redDims.strides[0][i])));
  const perWorkgroup = count >= PER_WORKGROUP_MIN;
  return single('reduce', perWorkgroup ? 'reduceSumPerWorkgroup' : 'reduceSumPerThread', ins, out, u, perWorkgroup ? kept : Math.ceil(kept / WG));
};

const TILE = 64;

const matmul: KernelSpec = ([a, b], [out], attrs) => {
  const ta = attrs.flag('transposeA');
  const [m, n] = out.shape;
  const ka = ta ? a.shape[0] : a.shape[1];
  const tilesM = Math.ceil(m / TILE);
  const tilesN = Math.ceil(n / TILE);
  const u = new Uint32Array(PARAM_WORDS);
  u.set([m, n, ka, ta ? 1 : 0, attrs.flag('transposeB') ? 1 : 0, tilesM, tilesN]);
  return single('matmul', 'matmul', [a, b], out, u, tilesM * tilesN);
};

const SPECS: Record<string, KernelSpec> = {
  add: binary('add'),
  mul: binary('mul'),
  broadcastTo: (ins, [out], attrs) => elementwisePlan('broadcastTo', ins, out, attrs.num('scale', 1)),
  relu: (ins, [out]) => elementwisePlan('relu', ins, out, 1),
  reluBackward: (ins, [out]) => elementwisePlan('reluBackward', ins, out, 1),
  addRelu: (ins, [out]) => elementwisePlan('addRelu', ins, out, 1),
  reduceSum,
  matmul,
  fill: (ins, [out], attrs) => elementwisePlan('fill', ins, out, attrs.num('value')),
  ...EXTRA_SPECS,
  ...AUGMENT_SPECS,
};

export const KERNEL_NAMES: readonly string[] = Object.keys(SPECS);

/** Checks a kernel call with the addon's validator (as the CPU backend does) and returns its launch plan. */
export function planKernel(kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs: KernelAttrs | undefined, chunk?: number): KernelPlan {
  if (typeof kernel !== 'string') throw new TypeError('run: kernel name must be a string');
  const spec = Object.hasOwn(SPECS, kernel) ? SPECS[kernel] : undefined;
  if (!spec) {
    throw new RangeError(`${kernel.slice(0, 64)}: unknown kernel for the webgpu backend (it has ${KERNEL_NAMES.join(', ')})`);
  }
  if (!Array.isArray(inputs) || !Array.isArray(outputs)) throw new TypeError(`${kernel}: inputs and outputs must be arrays of tensors`);
  const inStorage = inputs.map((t, i) => webgpuStorage(t?.storage, `${kernel}: inputs[${i}]`));
  const outStorage = outputs.map((t, i) => webgpuStorage(t?.storage, `${kernel}: outputs[${i}]`));
  const shapes = (list: TensorRef[]) => list.map((t) => t.shape as number[]);
  nativeAddon().validate(kernel, shapes(inputs), shapes(outputs), attrs ?? {});
  const checked = (list: TensorRef[], st: WebGPUStorage[], what: string): Checked[] =>
    list.map((t, i) => {
      const n = numelOf(t.shape);
      if (n !== st[i].numel) throw new RangeError(`${kernel}: ${what}[${i}] shape ${formatShape(t.shape)} has ${n} elements but its buffer holds ${st[i].numel}`);
      return { storage: st[i], shape: [...t.shape] };
    });
  const ins = checked(inputs, inStorage, 'inputs');
  const outs = checked(outputs, outStorage, 'outputs');
  outStorage.forEach((o, i) => {
    if (inStorage.includes(o)) throw new RangeError(`${kernel}: output ${i} is also an input; kernels do not run in place`);
    if (outStorage.indexOf(o) !== i) throw new RangeError(`${kernel}: the same buffer is given as two outputs`);
  });
  return spec(ins, outs, new Attrs(attrs ?? {}), chunk);
}
