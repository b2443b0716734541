// Kernel validation and launch plans for the WebGPU backend. Validation mirrors the CPU backend's
// (native/addon.cc and kernels/cpu/*): the same checks, the same messages, minus the addon prefix.
// A plan says which entry point of which shader runs, what it binds, its parameter words and how
// many workgroups it needs; the backend turns it into a compute pass.
import type { KernelAttrs, TensorRef } from '../backend.js';
import type { ShaderFile } from './shaders.js';
import { WebGPUStorage } from './storage.js';
import { EXTRA_SPECS } from './kernels-ssl.js';
import {
  Attrs,
  type Checked,
  type KernelPlan,
  type KernelSpec,
  type Resource,
  MAX_RANK,
  PARAM_WORDS,
  expectSameShape,
  formatShape,
  newParams,
  numelOf,
  sameShape,
} from './plan.js';

export { MAX_RANK, PARAM_WORDS, formatShape } from './plan.js';
export type { KernelPlan, Pass, Resource, Scratch } from './plan.js';

const WG = 256;

function broadcastShapes(k: string, a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = i < r - a.length ? 1 : a[i - (r - a.length)];
    const db = i < r - b.length ? 1 : b[i - (r - b.length)];
    if (da !== db && da !== 1 && db !== 1) {
      throw new RangeError(`${k}: shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

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
  return {
    inputs: 2,
    outputs: 1,
    plan(k, ins, [out]) {
      const want = broadcastShapes(k, ins[0].shape, ins[1].shape);
      expectSameShape(k, out.shape, want, 'output');
      const flat = sameShape(ins[0].shape, out.shape) && sameShape(ins[1].shape, out.shape);
      return elementwisePlan(flat ? `${op}Flat` : op, ins, out, 1);
    },
  };
}

function unarySame(entry: string, inputs: number): KernelSpec {
  return {
    inputs,
    outputs: 1,
    plan(k, ins, [out]) {
      for (const t of ins) expectSameShape(k, t.shape, out.shape, 'input');
      return elementwisePlan(entry, ins, out, 1);
    },
  };
}

function reducedMask(k: string, xs: number[], attrs: Attrs): boolean[] {
  const axes = attrs.list('axes');
  if (!axes) return xs.map(() => true);
  const mask = xs.map(() => false);
  const r = xs.length;
  for (const a of axes) {
    if (typeof a !== 'number' || !Number.isInteger(a)) {
      throw new TypeError(`${k}: attrs.axes must hold integers, got ${JSON.stringify(a)}`);
    }
    const ax = a < 0 ? a + r : a;
    if (ax < 0 || ax >= r) throw new RangeError(`${k}: axis ${a} is out of range for input shape ${formatShape(xs)}`);
    if (mask[ax]) throw new RangeError(`${k}: axis ${a} is listed twice`);
    mask[ax] = true;
  }
  return mask;
}

/** Tree-reduce in a workgroup once a reduction is at least this long. */
const PER_WORKGROUP_MIN = 128;

const reduceSum: KernelSpec = {
  inputs: 1,
  outputs: 1,
  plan(k, ins, [out], attrs) {
    const xs = ins[0].shape;
    const mask = reducedMask(k, xs, attrs);
    let kept = 1;
    xs.forEach((d, i) => (kept *= mask[i] ? 1 : d));
    if (out.storage.numel !== kept) {
      throw new RangeError(
        `${k}: output shape ${formatShape(out.shape)} must hold ${kept} elements (input ${formatShape(xs)} with the reduced axes removed)`,
      );
    }
    const scale = attrs.number('scale', 1);
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
  },
};

const TILE = 64;

const matmul: KernelSpec = {
  inputs: 2,
  outputs: 1,
  plan(k, ins, [out], attrs) {
    const a = ins[0].shape;
    const b = ins[1].shape;
    if (a.length !== 2 || b.length !== 2) {
      throw new RangeError(`${k}: expects 2-D inputs, got ${formatShape(a)} and ${formatShape(b)}`);
    }
    const ta = attrs.flag('transposeA');
    const tb = attrs.flag('transposeB');
    const m = ta ? a[1] : a[0];
    const ka = ta ? a[0] : a[1];
    const kb = tb ? b[1] : b[0];
    const n = tb ? b[0] : b[1];
    if (ka !== kb) {
      throw new RangeError(
        `${k}: inner dimensions differ: A ${formatShape(a)}${ta ? ' (transposed)' : ''}, B ${formatShape(b)}${tb ? ' (transposed)' : ''}`,
      );
    }
    expectSameShape(k, out.shape, [m, n], 'output');
    const tilesM = Math.ceil(m / TILE);
    const tilesN = Math.ceil(n / TILE);
    const u = new Uint32Array(PARAM_WORDS);
    u.set([m, n, ka, ta ? 1 : 0, tb ? 1 : 0, tilesM, tilesN]);
    return single('matmul', 'matmul', ins, out, u, tilesM * tilesN);
  },
};

const fill: KernelSpec = {
  inputs: 0,
  outputs: 1,
  plan(k, ins, [out], attrs) {
    return elementwisePlan('fill', ins, out, attrs.number('value', 0));
  },
};

const SPECS: Record<string, KernelSpec> = {
  add: binary('add'),
  mul: binary('mul'),
  broadcastTo: {
    inputs: 1,
    outputs: 1,
    plan(k, ins, [out], attrs) {
      const want = broadcastShapes(k, ins[0].shape, out.shape);
      expectSameShape(k, out.shape, want, 'output');
      return elementwisePlan('broadcastTo', ins, out, attrs.number('scale', 1));
    },
  },
  relu: unarySame('relu', 1),
  reluBackward: unarySame('reluBackward', 2),
  reduceSum,
  matmul,
  fill,
  ...EXTRA_SPECS,
};

export const KERNEL_NAMES: readonly string[] = Object.keys(SPECS);

function checkTensors(k: string, list: unknown, what: string): Checked[] {
  if (!Array.isArray(list)) throw new TypeError(`${k}: ${what} must be an array of tensors`);
  // The addon's bound, kept so that both backends accept the same calls.
  if (list.length > 1024) throw new RangeError(`${k}: ${what} has ${list.length} entries; at most 1024`);
  return list.map((t: TensorRef, i) => {
    const name = `${what}[${i}]`;
    if (!t || typeof t !== 'object') throw new TypeError(`${k}: ${name} must be a {storage, shape} tensor`);
    const s = t.storage as unknown;
    if (!(s instanceof WebGPUStorage)) {
      const from = (s as { backend?: unknown } | null)?.backend;
      throw new TypeError(`${k}: ${name} must be a webgpu storage, got ${from ? `one from the ${String(from)} backend` : String(s)}`);
    }
    if (s.freed) throw new RangeError(`${k}: ${name} is not a live buffer: it was freed`);
    const shape = t.shape as unknown;
    if (!Array.isArray(shape)) throw new TypeError(`${k}: ${name} shape must be an array of dimensions`);
    if (shape.length > MAX_RANK) throw new RangeError(`${k}: ${name} shape has rank ${shape.length}; at most ${MAX_RANK} is supported`);
    for (const d of shape) {
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
        throw new RangeError(`${k}: ${name} shape ${JSON.stringify(shape)} must hold non-negative integers`);
      }
    }
    const n = numelOf(shape);
    if (n !== s.numel) {
      throw new RangeError(`${k}: ${name} shape ${formatShape(shape)} has ${n} elements but its buffer holds ${s.numel}`);
    }
    return { storage: s, shape: [...shape] };
  });
}

/** Validates a kernel call exactly as the CPU backend does and returns its launch plan. */
export function planKernel(kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs: KernelAttrs | undefined): KernelPlan {
  if (typeof kernel !== 'string') throw new TypeError('run: kernel name must be a string');
  const spec = Object.hasOwn(SPECS, kernel) ? SPECS[kernel] : undefined;
  if (!spec) {
    throw new RangeError(`${kernel.slice(0, 64)}: unknown kernel for the webgpu backend (it has ${KERNEL_NAMES.join(', ')})`);
  }
  if (attrs !== undefined && attrs !== null && (typeof attrs !== 'object' || Array.isArray(attrs))) {
    throw new TypeError(`${kernel}: attrs must be a plain object`);
  }
  const ins = checkTensors(kernel, inputs, 'inputs');
  const outs = checkTensors(kernel, outputs, 'outputs');
  if (spec.inputs >= 0 && ins.length !== spec.inputs) throw new TypeError(`${kernel}: expects ${spec.inputs} input(s), got ${ins.length}`);
  if (spec.outputs >= 0 && outs.length !== spec.outputs) throw new TypeError(`${kernel}: expects ${spec.outputs} output(s), got ${outs.length}`);
  for (let i = 0; i < outs.length; i++) {
    if (ins.some((t) => t.storage === outs[i].storage)) {
      throw new RangeError(`${kernel}: output ${i} is also an input; kernels do not run in place`);
    }
    for (let j = 0; j < i; j++) {
      if (outs[j].storage === outs[i].storage) throw new RangeError(`${kernel}: the same buffer is given as two outputs`);
    }
  }
  const a = new Attrs(kernel, attrs ?? {});
  return spec.plan(kernel, ins, outs, a);
}
