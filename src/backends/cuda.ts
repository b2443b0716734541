// The CUDA backend: hand-written CUDA kernels in the addon (kernels/cuda/), launched on one CUDA
// stream per device. Buffers are device memory from the addon's caching allocator; reads copy through
// pinned staging and resolve off the event loop. A kernel's validator is the CPU kernel's, so shapes
// are checked identically on both backends. hasKernel lists what the addon registered for CUDA, and
// kernelDtypes the dtypes each of them takes, so the conformance suite runs exactly those ops and dtypes
// CUDA-vs-CPU and names the rest as skipped.
import { nativeAddon, type NativeAddon, type NativeTensorArg } from '../native.js';
import type { DType } from '../core/dtype.js';
import type { Backend, BackendMemory, BackendStatus, KernelAttrs, Storage, TensorRef } from './backend.js';

/** The addon of a CUDA build, where the timing entry points exist. */
type CudaAddon = NativeAddon & Required<Pick<NativeAddon, 'cudaEventRecord' | 'cudaEventElapsed'>>;

export class CudaStorage implements Storage {
  readonly backend = 'cuda' as const;
  constructor(
    readonly handle: number,
    readonly numel: number,
    readonly dtype: DType = 'float32',
  ) {}
}

export class CudaBackend implements Backend {
  readonly name = 'cuda' as const;
  private kernelNames: Set<string> | null = null;
  private dtypes: Record<string, DType[]> | null = null;

  private addon(): CudaAddon {
    return nativeAddon() as CudaAddon;
  }

  private cachedStatus: BackendStatus | null = null;

  /** Probed once by the addon (a CUDA device does not come or go while the process runs). */
  status(): BackendStatus {
    if (!this.cachedStatus) {
      const c = nativeAddon().info().cuda;
      this.cachedStatus = Object.freeze(
        !c.compiled || !c.available ? { name: 'cuda', available: false, reason: c.reason } : { name: 'cuda', available: true, device: c.device },
      );
    }
    return this.cachedStatus;
  }

  hasKernel(kernel: string): boolean {
    if (!this.kernelNames) {
      const c = nativeAddon().info().cuda;
      this.kernelNames = new Set(c.compiled ? this.addon().kernels('cuda') : []);
    }
    return this.kernelNames.has(kernel);
  }

  /** Kernel names registered for CUDA in the addon. */
  kernels(): string[] {
    this.hasKernel('');
    return [...this.kernelNames!];
  }

  kernelDtypes(kernel: string): readonly DType[] {
    if (!this.dtypes) this.dtypes = nativeAddon().info().cuda.compiled ? this.addon().kernelDtypes('cuda') : {};
    return this.dtypes[kernel] ?? [];
  }

  alloc(numel: number, data?: Float32Array, dtype: DType = 'float32'): Storage {
    this.requireAvailable('alloc');
    return new CudaStorage(this.addon().alloc(numel, data, 'cuda', dtype), numel, dtype);
  }

  free(storage: Storage): void {
    this.addon().free(this.handle(storage, 'free'));
  }

  write(storage: Storage, data: Float32Array): void {
    this.addon().write(this.handle(storage, 'write'), data);
  }

  read(storage: Storage): Promise<Float32Array> {
    try {
      return this.addon().read(this.handle(storage, 'read'));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  sync(): Promise<void> {
    if (!this.status().available) return Promise.resolve();
    try {
      return this.addon().sync('cuda');
    } catch (e) {
      return Promise.reject(e);
    }
  }

  run(kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs: KernelAttrs = {}): void {
    const pack = (t: TensorRef): NativeTensorArg => [this.handle(t.storage, kernel), t.shape as number[]];
    this.addon().run(kernel, inputs.map(pack), outputs.map(pack), attrs);
  }

  memory(): BackendMemory {
    const m = this.addon().memory().cuda;
    return m ? { buffers: m.buffers, bytes: m.bytes, cachedBytes: m.cachedBytes, dtypeBytes: m.dtypeBytes } : { buffers: 0, bytes: 0 };
  }

  /**
   * Device milliseconds for the work `fn` enqueues: CUDA events recorded on the stream before and
   * after it; resolves once that work is done. Host time spent inside fn between launches counts
   * only where the GPU waited for it.
   */
  async timeMs(fn: () => void): Promise<number> {
    this.requireAvailable('timeMs');
    const addon = this.addon();
    const start = addon.cudaEventRecord();
    fn();
    const end = addon.cudaEventRecord();
    return addon.cudaEventElapsed(start, end);
  }

  private requireAvailable(what: string): void {
    const s = this.status();
    if (!s.available) throw new Error(`cuda.${what}: CUDA is unavailable: ${s.reason}`);
  }

  private handle(storage: Storage, what: string): number {
    if (!(storage instanceof CudaStorage)) {
      throw new TypeError(`${what}: expected a cuda storage, got one from the ${storage?.backend ?? 'unknown'} backend`);
    }
    return storage.handle;
  }
}
