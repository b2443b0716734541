// WebGPU storage: a GPUBuffer of float32 values, plus a pool that keeps freed buffers by byte size
// for reuse. Reuse is safe without fences because every write, kernel and read-back goes through
// the one device queue in submission order.
import type { Storage } from '../backend.js';

export class WebGPUStorage implements Storage {
  readonly backend = 'webgpu' as const;
  /** WGSL kernels here are float32 only; the backend refuses other dtypes at alloc. */
  readonly dtype = 'float32' as const;
  freed = false;
  constructor(
    readonly buffer: GPUBuffer,
    readonly numel: number,
    /** numel·4, at least 4 (a binding cannot be empty); always a multiple of 4 as WebGPU needs. */
    readonly byteSize: number,
    /** Where the values start in buffer: 0, except for a view (split.ts) bound as a part of it. */
    readonly byteOffset = 0,
    private readonly parent?: WebGPUStorage,
  ) {}

  /** numel values from element `start` on, bound as (offset, size) of this buffer; live while this storage is. */
  view(start: number, numel: number): WebGPUStorage {
    return new WebGPUStorage(this.buffer, numel, byteSizeFor(numel), this.byteOffset + start * 4, this.parent ?? this);
  }

  get isView(): boolean {
    return this.parent !== undefined;
  }
}

/** storage as a WebGPU storage (`what` names the call and the argument); live unless allowFreed. */
export function webgpuStorage(storage: unknown, what: string, allowFreed = false): WebGPUStorage {
  if (!(storage instanceof WebGPUStorage)) {
    const from = (storage as { backend?: unknown } | null)?.backend;
    throw new TypeError(`${what}: expected a webgpu storage, got ${from ? `one from the ${String(from)} backend` : String(storage)}`);
  }
  if (storage.freed && !allowFreed) throw new RangeError(`${what}: the storage is not live: it was freed`);
  return storage;
}

export function byteSizeFor(numel: number): number {
  return Math.max(4, numel * 4);
}

/** Freed buffers by byte size. Contents of a reused buffer are whatever was last written. */
export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  cachedBytes = 0;

  take(byteSize: number): GPUBuffer | undefined {
    const list = this.free.get(byteSize);
    const b = list?.pop();
    if (b) this.cachedBytes -= byteSize;
    return b;
  }

  give(byteSize: number, buffer: GPUBuffer): void {
    let list = this.free.get(byteSize);
    if (!list) this.free.set(byteSize, (list = []));
    list.push(buffer);
    this.cachedBytes += byteSize;
  }

  /** Destroys every pooled buffer. */
  clear(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.cachedBytes = 0;
  }
}
