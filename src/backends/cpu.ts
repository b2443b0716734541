// The CPU backend: C++ kernels in the addon, run in submission order on its stream thread.
import type { BackendStatus } from './backend.js';
import { NativeBackend } from './native-backend.js';

export class CpuBackend extends NativeBackend {
  declare readonly name: 'cpu';

  constructor() {
    super('cpu');
  }

  status(): BackendStatus {
    const threads = this.addon.info().threads;
    return { name: 'cpu', available: true, device: `host CPU, ${threads} thread${threads === 1 ? '' : 's'}` };
  }

  protected compiled(): boolean {
    return true;
  }

  protected available(): boolean {
    return true;
  }

  setThreads(n: number): void {
    this.addon.setThreads(n);
  }
}
