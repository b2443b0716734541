// The shared vocabulary of WebGPU launch plans: passes, scratch buffers, parameter words, attrs
// access and the shape checks the validators share (kernels.ts, kernels-ssl.ts).
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

export interface KernelSpec {
  /** -1: any number */
  inputs: number;
  outputs: number;
  plan(k: string, ins: Checked[], outs: Checked[], attrs: Attrs): KernelPlan;
}

export interface Checked {
  storage: WebGPUStorage;
  shape: number[];
}

export function scratch(numel: number, data?: Uint32Array<ArrayBuffer> | Float32Array<ArrayBuffer>): Scratch {
  return { kind: 'scratch', numel, data };
}

export class Attrs {
  constructor(
    private readonly kernel: string,
    private readonly raw_: KernelAttrs,
  ) {}
  number(key: string, fallback: number): number {
    const v = this.raw_[key];
    if (v === undefined) return fallback;
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v !== 'number') throw new TypeError(`${this.kernel}: attrs.${key} must be a number, got an array`);
    return v;
  }
  flag(key: string): boolean {
    return this.number(key, 0) !== 0;
  }
  /** The raw value as the addon reads it: booleans as 0/1, absent as the fallback (arrays as NaN). */
  raw(key: string, fallback: number): number {
    const v = this.raw_[key];
    if (v === undefined) return fallback;
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v !== 'number') return NaN;
    return v;
  }
  list(key: string): number[] | undefined {
    const v = this.raw_[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) throw new TypeError(`${this.kernel}: attrs.${key} must be an array of integers`);
    return v;
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

export function expectSameShape(k: string, got: number[], want: number[], what: string): void {
  if (!sameShape(got, want)) throw new RangeError(`${k}: ${what} shape ${formatShape(got)} should be ${formatShape(want)}`);
}

export function newParams(): { u: Uint32Array<ArrayBuffer>; f: Float32Array<ArrayBuffer> } {
  const u = new Uint32Array(PARAM_WORDS);
  return { u, f: new Float32Array(u.buffer) };
}

