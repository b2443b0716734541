// memory(): live buffers and bytes per backend as counted by each backend's allocator, plus the
// number of live Tensor objects and of tensors the garbage collector had to free (leaks).
import type { BackendMemory, BackendName } from '../backends/backend.js';
import { getBackend, startedBackends } from '../backends/registry.js';
import { leakedTensorCount, liveTensorCount } from './engine.js';

export type MemoryInfo = Record<BackendName, BackendMemory> & { tensors: number; leaked: number };

export function memory(): MemoryInfo {
  getBackend('cpu');
  const out = {
    cpu: { buffers: 0, bytes: 0 },
    cuda: { buffers: 0, bytes: 0 },
    webgpu: { buffers: 0, bytes: 0 },
    tensors: liveTensorCount(),
    leaked: leakedTensorCount(),
  } as MemoryInfo;
  for (const b of startedBackends()) out[b.name] = b.memory();
  return out;
}
