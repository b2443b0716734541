// The CUDA backend's presence: the addon says whether CUDA was compiled in and whether a device is
// usable. Its kernels arrive with issue 4; until then no kernel is registered and every op reports
// that, so the conformance suite skips CUDA with that reason.
import { nativeAddon } from '../native.js';
import type { Backend, BackendMemory, BackendStatus, KernelAttrs, Storage, TensorRef } from './backend.js';

export class CudaBackend implements Backend {
  readonly name = 'cuda' as const;

  status(): BackendStatus {
    const c = nativeAddon().info().cuda;
    if (!c.compiled) return { name: 'cuda', available: false, reason: c.reason };
    if (!c.available) return { name: 'cuda', available: false, reason: c.reason };
    return { name: 'cuda', available: true, device: c.device };
  }

  hasKernel(_kernel: string): boolean {
    return false;
  }

  private unavailable(what: string): never {
    const s = this.status();
    throw new Error(
      `cuda.${what}: ` +
        (s.available ? 'CUDA kernels are not implemented yet (issue 4)' : `CUDA is unavailable: ${s.reason}`),
    );
  }

  alloc(_numel: number, _data?: Float32Array): Storage {
    return this.unavailable('alloc');
  }
  free(_storage: Storage): void {
    this.unavailable('free');
  }
  write(_storage: Storage, _data: Float32Array): void {
    this.unavailable('write');
  }
  read(_storage: Storage): Promise<Float32Array> {
    return Promise.reject(new Error('cuda.read: no CUDA storage exists'));
  }
  sync(): Promise<void> {
    return Promise.resolve();
  }
  run(kernel: string, _inputs: TensorRef[], _outputs: TensorRef[], _attrs?: KernelAttrs): void {
    this.unavailable(`run(${kernel})`);
  }
  memory(): BackendMemory {
    return { buffers: 0, bytes: 0 };
  }
}
