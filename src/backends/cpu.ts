// The CPU backend: C++ kernels in the addon, run in submission order on its stream thread.
import { nativeAddon, type NativeAddon } from '../native.js';
import type { DType } from '../core/dtype.js';
import type { Backend, BackendMemory, BackendStatus, KernelAttrs, Storage, TensorRef } from './backend.js';

export class NativeStorage implements Storage {
  readonly backend = 'cpu' as const;
  constructor(
    readonly handle: number,
    readonly numel: number,
    readonly dtype: DType = 'float32',
  ) {}
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  private readonly addon: NativeAddon;
  private readonly kernelNames: Set<string>;
  private readonly dtypes: Record<string, DType[]>;

  constructor() {
    this.addon = nativeAddon();
    this.kernelNames = new Set(this.addon.kernels());
    this.dtypes = this.addon.kernelDtypes();
  }

  status(): BackendStatus {
    const threads = this.addon.info().threads;
    return { name: 'cpu', available: true, device: `host CPU, ${threads} thread${threads === 1 ? '' : 's'}` };
  }

  hasKernel(kernel: string): boolean {
    return this.kernelNames.has(kernel);
  }

  kernelDtypes(kernel: string): readonly DType[] {
    return this.dtypes[kernel] ?? [];
  }

  alloc(numel: number, data?: Float32Array, dtype: DType = 'float32'): Storage {
    return new NativeStorage(this.addon.alloc(numel, data, 'cpu', dtype), numel, dtype);
  }

  free(storage: Storage): void {
    this.addon.free(this.handle(storage, 'free'));
  }

  write(storage: Storage, data: Float32Array): void {
    this.addon.write(this.handle(storage, 'write'), data);
  }

  read(storage: Storage): Promise<Float32Array> {
    return this.addon.read(this.handle(storage, 'read'));
  }

  sync(): Promise<void> {
    return this.addon.sync();
  }

  run(kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs: KernelAttrs = {}): void {
    const pack = (t: TensorRef): [number, number[]] => [this.handle(t.storage, kernel), t.shape as number[]];
    this.addon.run(kernel, inputs.map(pack), outputs.map(pack), attrs);
  }

  memory(): BackendMemory {
    const m = this.addon.memory().cpu;
    return { buffers: m.buffers, bytes: m.bytes, cachedBytes: m.cachedBytes, dtypeBytes: m.dtypeBytes };
  }

  setThreads(n: number): void {
    this.addon.setThreads(n);
  }

  private handle(storage: Storage, what: string): number {
    if (!(storage instanceof NativeStorage)) {
      throw new TypeError(`${what}: expected a cpu storage, got one from the ${storage?.backend ?? 'unknown'} backend`);
    }
    return storage.handle;
  }
}
