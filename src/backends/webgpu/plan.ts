// The shared vocabulary of WebGPU launch plans (kernels.ts, kernels-ssl.ts): passes, scratch buffers,
// parameter words and attrs access.
import type { KernelAttrs } from '../backend.js';
import type { ShaderFile } from './shaders.js';
import type { WebGPUStorage } from './storage.js';

export const MAX_RANK = 8;
/** Words in the params uniform (see the Params structs in kernels/wgsl/). */
export const PARAM_WORDS = 64;

/**
 * A temporary buffer that lives for one run(): taken from the pool, filled with `data` when given,
 * returned to the pool after the submit (safe: the queue orders every later use after this run).
 */
export interface Scratch {
  readonly kind: 'scratch';
  readonly numel: number;
  readonly data?: Uint32Array<ArrayBuffer> | Float32Array<ArrayBuffer>;
}
export type Resource = WebGPUStorage | Scratch;

/** One compute dispatch: an entry point, what it binds where, its parameter words and its grid. */
export interface Pass {
  file: ShaderFile;
  entry: string;
  /** [binding, resource] pairs; exactly the storage bindings the entry point uses (layout 'auto'). */
  bind: Array<[number, Resource]>;
  /** Binding of the params uniform (PARAM_WORDS words). */
  paramsAt: number;
  params: Uint32Array<ArrayBuffer>;
  /** Workgroups to launch; 0 skips the pass (empty output). */
  workgroups: number;
}

/** A kernel is one or more passes, run in order in one submit. */
export interface KernelPlan {
  passes: Pass[];
}

/**
 * A kernel's launch plan from a call the addon's validator has accepted (planKernel checks first), so
 * the shapes and attrs are those of a valid call. `chunk` (split.ts mode 'plan'): the call is past one
 * storage binding, and the plan binds its split tensors as views of this many samples.
 */
export type KernelSpec = (ins: Checked[], outs: Checked[], attrs: Attrs, chunk?: number) => KernelPlan;

export interface Checked {
  storage: WebGPUStorage;
  shape: number[];
}

export function scratch(numel: number, data?: Uint32Array<ArrayBuffer> | Float32Array<ArrayBuffer>): Scratch {
  return { kind: 'scratch', numel, data };
}

/** A validated call's attrs: booleans read as 0/1; a required attribute is present. */
export class Attrs {
  constructor(private readonly raw: KernelAttrs) {}
  /** The number at key; fallback for an optional attribute that is absent (scale 1, …). */
  num(key: string, fallback?: number): number {
    const v = this.raw[key];
    if (v === undefined) {
      if (fallback === undefined) throw new Error(`attrs.${key} is missing after validation`);
      return fallback;
    }
    return typeof v === 'boolean' ? (v ? 1 : 0) : (v as number);
  }
  flag(key: string): boolean {
    return this.num(key, 0) !== 0;
  }
  list(key: string): number[] | undefined {
    return this.raw[key] as number[] | undefined;
  }
}

export function formatShape(s: readonly number[]): string {
  return `[${s.join(',')}]`;
}

export function numelOf(s: readonly number[]): number {
  let n = 1;
  for (const d of s) n *= d;
  return n;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function newParams(): { u: Uint32Array<ArrayBuffer>; f: Float32Array<ArrayBuffer> } {
  const u = new Uint32Array(PARAM_WORDS);
  return { u, f: new Float32Array(u.buffer) };
}

