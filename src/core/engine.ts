// Memory scopes and gradient mode. Memory from JS is explicit: tensors created inside tidy(fn) are
// disposed when fn returns, except what fn returns and what keep() marks. A FinalizationRegistry
// frees storage of tensors that were garbage-collected undisposed, and counts them as leaks.
import type { Backend, KernelAttrs, Storage, TensorRef } from '../backends/backend.js';
import type { DType } from './dtype.js';
import type { Tensor } from './tensor.js';

/**
 * Storage shared by a tensor and its views (reshape, detach); freed when the last one is disposed.
 * A holder made with a function allocates and fills its storage on first use (lazy): backward()'s
 * seed of ones, which the fused IFA gradient never reads, costs no device work unless something does.
 * The dtype is known without the storage (a lazy holder says which it will make).
 */
export class StorageHolder {
  private refs = 1;
  private stored: Storage | null;
  private make: (() => Storage) | null;
  /** Every element's value, when known on the host (Tensor.knownValue). */
  knownValue: number | undefined = undefined;
  readonly dtype: DType;
  constructor(
    readonly backend: Backend,
    storage: Storage | (() => Storage),
    dtype?: DType,
  ) {
    this.stored = typeof storage === 'function' ? null : storage;
    this.make = typeof storage === 'function' ? storage : null;
    this.dtype = dtype ?? this.stored?.dtype ?? 'float32';
  }
  get storage(): Storage {
    if (!this.stored) {
      this.stored = this.make!();
      this.make = null;
    }
    return this.stored;
  }
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (this.refs <= 0) return;
    if (--this.refs === 0) {
      if (this.stored) this.backend.free(this.stored);
      this.stored = null;
      this.make = null;
    }
  }
}

interface Scope {
  tensors: Set<Tensor>;
}

const scopes: Scope[] = [];
let gradEnabled = true;
let live = 0;
let leaked = 0;

const finalizer = new FinalizationRegistry<StorageHolder>((holder) => {
  leaked++;
  live--;
  holder.release();
});

export function trackTensor(t: Tensor, holder: StorageHolder): void {
  live++;
  finalizer.register(t, holder, t);
  if (scopes.length) scopes[scopes.length - 1].tensors.add(t);
}

export function untrackTensor(t: Tensor): void {
  live--;
  finalizer.unregister(t);
}

export function liveTensorCount(): number {
  return live;
}

/** Tensors that were garbage-collected without dispose() (their storage was freed then). */
export function leakedTensorCount(): number {
  return leaked;
}

function collect(value: unknown, out: Set<Tensor>, isTensor: (v: unknown) => v is Tensor, depth = 0): void {
  if (depth > 8 || value === null || typeof value !== 'object') return;
  if (isTensor(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, isTensor, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, isTensor, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, isTensor, depth + 1);
  }
}

let tensorCheck: ((v: unknown) => v is Tensor) | null = null;
export function setTensorCheck(f: (v: unknown) => v is Tensor): void {
  tensorCheck = f;
}

/**
 * Runs fn and disposes every tensor it created, except the tensors in its result (a tensor, or
 * arrays/objects/Maps of them) and those passed to keep(). Results move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError('tidy: expects a function');
  const scope: Scope = { tensors: new Set() };
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope.tensors) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result && typeof (result as { then?: unknown }).then === 'function') {
    for (const t of scope.tensors) t.dispose();
    throw new TypeError('tidy: fn returned a Promise; tidy scopes are synchronous (await outside, or dispose by hand)');
  }
  const kept = new Set<Tensor>();
  collect(result, kept, tensorCheck!);
  const parent = scopes.length ? scopes[scopes.length - 1] : null;
  for (const t of scope.tensors) {
    if (kept.has(t)) parent?.tensors.add(t);
    else t.dispose();
  }
  return result;
}

/**
 * tidy() for work that awaits in the middle (a training step whose loss is computed on the host
 * from the logits): every tensor created until fn settles is disposed then, except those in its
 * result. The scope stays open across the awaits, so a tensor that unrelated code creates meanwhile
 * lands in it too: use it where nothing else makes tensors during the call.
 */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope: Scope = { tensors: new Set() };
  scopes.push(scope);
  const close = (): void => {
    const i = scopes.lastIndexOf(scope);
    if (i >= 0) scopes.splice(i, 1);
  };
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    close();
    for (const t of scope.tensors) t.dispose();
    throw e;
  }
  close();
  const kept = new Set<Tensor>();
  collect(result, kept, tensorCheck!);
  const parent = scopes.length ? scopes[scopes.length - 1] : null;
  for (const t of scope.tensors) {
    if (kept.has(t)) parent?.tensors.add(t);
    else t.dispose();
  }
  return result;
}

/** Exempts t from disposal by the enclosing tidy scopes. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.tensors.delete(t);
  return t;
}

/** Runs fn without recording operations for autograd. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Sees every kernel launch instead of the plain backend.run (src/core/trace.ts installs one). */
export type KernelDispatcher = (backend: Backend, op: string, kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs: KernelAttrs) => void;

let dispatcher: KernelDispatcher | null = null;

/** Installs (or, with null, removes) the dispatcher every launch goes through. */
export function setKernelDispatcher(d: KernelDispatcher | null): void {
  dispatcher = d;
}

/**
 * Every kernel launch of the library goes through here (ops, fill, autograd's accumulation), so a
 * trace sees each one with its op's name. Without a dispatcher it costs one null check.
 */
export function dispatchKernel(backend: Backend, op: string, kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs: KernelAttrs): void {
  if (dispatcher === null) backend.run(kernel, inputs, outputs, attrs);
  else dispatcher(backend, op, kernel, inputs, outputs, attrs);
}
