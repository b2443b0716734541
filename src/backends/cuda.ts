// The CUDA backend: hand-written CUDA kernels in the addon (kernels/cuda/), launched on one CUDA
// stream per device. Buffers are device memory from the addon's caching allocator; reads copy through
// pinned staging and resolve off the event loop. A kernel's validator is the CPU kernel's, so shapes
// are checked identically on both backends.
import type { BackendStatus } from './backend.js';
import { NativeBackend } from './native-backend.js';

export class CudaBackend extends NativeBackend {
  declare readonly name: 'cuda';
  private cachedStatus: BackendStatus | null = null;

  constructor() {
    super('cuda');
  }

  /** Probed once by the addon (a CUDA device does not come or go while the process runs). */
  status(): BackendStatus {
    if (!this.cachedStatus) {
      const c = this.addon.info().cuda;
      this.cachedStatus = Object.freeze(
        !c.compiled || !c.available ? { name: 'cuda', available: false, reason: c.reason } : { name: 'cuda', available: true, device: c.device },
      );
    }
    return this.cachedStatus;
  }

  protected compiled(): boolean {
    return this.addon.info().cuda.compiled;
  }

  protected available(): boolean {
    return this.status().available;
  }

  /**
   * Device milliseconds for the work `fn` enqueues: CUDA events recorded on the stream before and
   * after it; resolves once that work is done. Host time spent inside fn between launches counts
   * only where the GPU waited for it.
   */
  async timeMs(fn: () => void): Promise<number> {
    this.requireAvailable('timeMs');
    const start = this.addon.cudaEventRecord!();
    fn();
    const end = this.addon.cudaEventRecord!();
    return this.addon.cudaEventElapsed!(start, end);
  }
}
