// Tensor: values of one dtype (float32 by default, bfloat16, float16) with a shape, on one backend.
// Half values are rounded to nearest even when stored; `await t.data()` reads any dtype as a
// Float32Array (exactly). Memory is released with dispose() or by an enclosing tidy().
import type { BackendName, Storage, TensorRef } from '../backends/backend.js';
import { getBackend, getDefaultBackend, initBackend } from '../backends/registry.js';
import { checkDType, type DType } from './dtype.js';
import { StorageHolder, dispatchKernel, isGradEnabled, setTensorCheck, trackTensor, untrackTensor } from './engine.js';
import { rngFor } from './random.js';
import { checkShape, formatShape, numel, shapesEqual, type Shape } from './shape.js';

/** How an op's output gets gradients for its inputs (declared next to each op). */
export interface GradNode {
  op: string;
  inputs: Tensor[];
  /** Gradients for each input, given the gradient of the output; null where none is needed. */
  backward(gy: Tensor): (Tensor | null)[];
}

export interface TensorOptions {
  backend?: BackendName;
  /** Element type (default 'float32'); values are rounded to it on creation. */
  dtype?: DType;
  requiresGrad?: boolean;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly backend: BackendName;
  readonly dtype: DType;
  requiresGrad: boolean;
  /** Accumulated gradient of a leaf tensor after backward(). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when recorded for autograd. */
  node: GradNode | null = null;
  private holder: StorageHolder | null;

  /** @internal Use tensor(), zeros(), ... to create tensors. */
  constructor(holder: StorageHolder, shape: readonly number[], requiresGrad = false) {
    this.holder = holder;
    this.shape = Object.freeze([...shape]);
    this.size = numel(shape);
    this.backend = holder.backend.name;
    this.dtype = holder.dtype;
    this.requiresGrad = requiresGrad;
    trackTensor(this, holder);
  }

  get rank(): number {
    return this.shape.length;
  }

  /**
   * When set, every element is known on the host to equal this number (up to rounding to the dtype)
   * without reading the device: the seed gradient of backward() and what scale's and add's
   * gradients make of it. A gradient rule may then use a result computed ahead for that upstream
   * value (ifaLoss with gradScale). It belongs to the storage, so views (detach, reshape) share it
   * and a write in place (launchInPlace, writeInto) clears it for all of them.
   */
  get knownValue(): number | undefined {
    return this.holder?.knownValue;
  }
  set knownValue(v: number | undefined) {
    if (this.holder) this.holder.knownValue = v;
  }

  get isDisposed(): boolean {
    return this.holder === null;
  }

  /** @internal */
  get storage(): Storage {
    return this.live('use').storage;
  }

  /** @internal The storage with this tensor's shape (or another shape of the same size). */
  ref(shape: Shape = this.shape): TensorRef {
    return { storage: this.live('use').storage, shape };
  }

  private live(what: string): StorageHolder {
    if (!this.holder) {
      throw new Error(`cannot ${what} a disposed tensor (shape ${formatShape(this.shape)}, ${this.backend}); keep() it or move the use inside its tidy()`);
    }
    return this.holder;
  }

  /** Copies the values out, as float32 whatever the dtype, once the queued work that produces them is done. */
  async data(): Promise<Float32Array> {
    const h = this.live('read');
    return h.backend.read(h.storage);
  }

  /** Values as nested arrays (for printing and tests). */
  async array(): Promise<unknown> {
    const d = await this.data();
    const build = (dim: number, off: number): unknown => {
      if (dim === this.shape.length) return d[off];
      const stride = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, off + i * stride));
    };
    return build(0, 0);
  }

  dispose(): void {
    if (!this.holder) return;
    const h = this.holder;
    this.holder = null;
    // The node stays: gradients can still flow through a disposed intermediate whose rule does not
    // need its values (a rule that does fails naming the op).
    untrackTensor(this);
    h.release();
  }

  /** A tensor sharing this one's values, outside autograd. */
  detach(): Tensor {
    const h = this.live('detach');
    h.retain();
    return new Tensor(h, this.shape, false);
  }

  /** The same values with another shape (no copy); gradients flow back through it. */
  reshape(shape: readonly number[]): Tensor {
    const s = checkShape([...shape], 'reshape');
    if (numel(s) !== this.size) {
      throw new RangeError(`reshape: cannot view ${formatShape(this.shape)} (${this.size} values) as ${formatShape(s)}`);
    }
    const h = this.live('reshape');
    h.retain();
    const out = new Tensor(h, s, false);
    if (this.requiresGrad && isGradEnabled()) {
      const src = this;
      out.requiresGrad = true;
      out.node = { op: 'reshape', inputs: [src], backward: (gy) => [gy.reshape(src.shape)] };
    }
    return out;
  }

  /** Copies to another backend, keeping the dtype (the copy is a new leaf: gradients do not flow back through it). */
  async to(name: BackendName): Promise<Tensor> {
    const dst = await initBackend(name);
    const values = await this.data();
    return new Tensor(new StorageHolder(dst, dst.alloc(this.size, values, this.dtype)), this.shape, this.requiresGrad);
  }

  /** Backpropagates from this tensor (a scalar, unless grad is given). */
  backward(grad?: Tensor): void {
    backwardImpl(this, grad);
  }

  toString(): string {
    const dtype = this.dtype === 'float32' ? '' : `, ${this.dtype}`;
    return `Tensor(${formatShape(this.shape)}, ${this.backend}${dtype}${this.requiresGrad ? ', requiresGrad' : ''}${this.isDisposed ? ', disposed' : ''})`;
  }
}

setTensorCheck((v: unknown): v is Tensor => v instanceof Tensor);

let backwardImpl: (root: Tensor, grad?: Tensor) => void = () => {
  throw new Error('autograd is not loaded');
};
export function setBackwardImpl(f: (root: Tensor, grad?: Tensor) => void): void {
  backwardImpl = f;
}

/** @internal A new uninitialised tensor on a backend. */
export function emptyTensor(shape: readonly number[], backend: BackendName, dtype: DType = 'float32'): Tensor {
  const b = getBackend(backend);
  return new Tensor(new StorageHolder(b, b.alloc(numel(shape), undefined, dtype)), shape);
}

/**
 * @internal A tensor whose every element is known on the host to be `value` (Tensor.knownValue).
 * Its device storage is allocated and filled only when a kernel or a read first needs it.
 */
export function knownFull(shape: readonly number[], value: number, backend: BackendName, dtype: DType = 'float32'): Tensor {
  const b = getBackend(backend);
  const n = numel(shape);
  const holder = new StorageHolder(
    b,
    () => {
      const s = b.alloc(n, undefined, dtype);
      dispatchKernel(b, 'fill', 'fill', [], [{ storage: s, shape: [n] }], { value });
      return s;
    },
    dtype,
  );
  holder.knownValue = value;
  return new Tensor(holder, shape);
}

function resolveBackend(opts: TensorOptions | undefined, what: string): BackendName {
  if (opts !== undefined && (opts === null || typeof opts !== 'object')) throw new TypeError(`${what}: options must be an object`);
  const name = opts?.backend ?? getDefaultBackend();
  getBackend(name); // throws with the reason if unavailable
  return name;
}

function resolveDType(opts: TensorOptions | undefined, what: string): DType {
  return opts?.dtype === undefined ? 'float32' : checkDType(opts.dtype, what);
}

function flattenNested(data: unknown, what: string): { values: number[]; shape: number[] } {
  const shape: number[] = [];
  let probe: unknown = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = probe[0];
  }
  const values: number[] = [];
  const walk = (v: unknown, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (typeof v !== 'number') throw new TypeError(`${what}: element ${path || '[]'} is ${typeof v}, expected a number`);
      values.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new RangeError(`${what}: nested arrays are ragged at ${path || 'the top level'} (expected length ${shape[dim]})`);
    }
    v.forEach((x, i) => walk(x, dim + 1, `${path}[${i}]`));
  };
  walk(data, 0, '');
  return { values, shape };
}

/**
 * A tensor from a typed array or plain array (shape required, or inferred from nested arrays) or a
 * number (a scalar). Values are rounded to opts.dtype (default float32).
 */
export function tensor(data: ArrayLike<number> | number | unknown[], shape?: readonly number[], opts?: TensorOptions): Tensor {
  const backend = resolveBackend(opts, 'tensor');
  const dtype = resolveDType(opts, 'tensor');
  let values: Float32Array;
  let s: number[];
  if (typeof data === 'number') {
    values = new Float32Array([data]);
    s = shape ? checkShape([...shape], 'tensor') : [];
  } else if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
    if (!shape) throw new TypeError('tensor: a shape is required with typed-array data');
    s = checkShape([...shape], 'tensor');
    values = data instanceof Float32Array ? new Float32Array(data) : Float32Array.from(data as unknown as ArrayLike<number>);
  } else if (Array.isArray(data)) {
    const flat = flattenNested(data, 'tensor');
    s = shape ? checkShape([...shape], 'tensor') : flat.shape;
    values = Float32Array.from(flat.values);
  } else {
    throw new TypeError(`tensor: data must be a number, an array or a typed array, got ${data === null ? 'null' : typeof data}`);
  }
  if (values.length !== numel(s)) {
    throw new RangeError(`tensor: ${values.length} values do not fill shape ${formatShape(s)} (${numel(s)} elements)`);
  }
  const b = getBackend(backend);
  return new Tensor(new StorageHolder(b, b.alloc(values.length, values, dtype)), s, opts?.requiresGrad ?? false);
}

/**
 * A tensor whose values are `data`, copied once, straight into backend storage (tensor() copies a
 * typed array in JS first): for large host buffers made once and handed over, such as the data
 * loader's batches. The cpu backend has copied `data` when this returns, so it may be reused then.
 */
export function fromFloat32Array(data: Float32Array, shape: readonly number[], opts?: TensorOptions): Tensor {
  if (!(data instanceof Float32Array)) throw new TypeError(`fromFloat32Array: data must be a Float32Array, got ${data === null ? 'null' : typeof data}`);
  const s = checkShape([...shape], 'fromFloat32Array');
  if (data.length !== numel(s)) {
    throw new RangeError(`fromFloat32Array: ${data.length} values do not fill shape ${formatShape(s)} (${numel(s)} elements)`);
  }
  const backend = resolveBackend(opts, 'fromFloat32Array');
  const b = getBackend(backend);
  return new Tensor(new StorageHolder(b, b.alloc(data.length, data, resolveDType(opts, 'fromFloat32Array'))), s, opts?.requiresGrad ?? false);
}

function filled(shape: readonly number[], value: number, opts: TensorOptions | undefined, what: string): Tensor {
  const s = checkShape(shape as number[], what);
  const backend = resolveBackend(opts, what);
  const t = emptyTensor(s, backend, resolveDType(opts, what));
  t.requiresGrad = opts?.requiresGrad ?? false;
  dispatchKernel(getBackend(backend), what, 'fill', [], [t.ref()], { value });
  return t;
}

export function zeros(shape: readonly number[], opts?: TensorOptions): Tensor {
  return filled(shape, 0, opts, 'zeros');
}

export function ones(shape: readonly number[], opts?: TensorOptions): Tensor {
  return filled(shape, 1, opts, 'ones');
}

export function full(shape: readonly number[], value: number, opts?: TensorOptions): Tensor {
  if (typeof value !== 'number') throw new TypeError('full: value must be a number');
  return filled(shape, value, opts, 'full');
}

export interface RandomOptions extends TensorOptions {
  /** Same seed, same values, on every backend. Without it, the global generator (setSeed) is used. */
  seed?: number;
}

export function randomNormal(shape: readonly number[], opts: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
  const s = checkShape(shape as number[], 'randomNormal');
  const rng = rngFor(opts.seed);
  const mean = opts.mean ?? 0;
  const std = opts.std ?? 1;
  const v = new Float32Array(numel(s));
  for (let i = 0; i < v.length; i++) v[i] = mean + std * rng.normal();
  return tensor(v, s, opts);
}

export function randomUniform(shape: readonly number[], opts: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const s = checkShape(shape as number[], 'randomUniform');
  const rng = rngFor(opts.seed);
  const lo = opts.low ?? 0;
  const hi = opts.high ?? 1;
  if (!(hi >= lo)) throw new RangeError(`randomUniform: high (${hi}) must be >= low (${lo})`);
  const v = new Float32Array(numel(s));
  for (let i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * rng.uniform();
  return tensor(v, s, opts);
}

export function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}

export { shapesEqual };
