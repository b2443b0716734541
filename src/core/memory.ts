// memory(): live buffers and bytes per backend as counted by each backend's allocator (with the live
// bytes per dtype, numel · element size), plus the number of live Tensor objects and of tensors the
// garbage collector had to free (leaks).
import { BACKEND_NAMES, type BackendMemory, type BackendName } from '../backends/backend.js';
import { getBackend, startedBackends } from '../backends/registry.js';
import { leakedTensorCount, liveTensorCount } from './engine.js';
import { nativeAddon } from '../native.js';

export type MemoryInfo = Record<BackendName, BackendMemory> & { tensors: number; leaked: number };

export function memory(): MemoryInfo {
  getBackend('cpu');
  const none = (): BackendMemory => ({ buffers: 0, bytes: 0, dtypeBytes: { float32: 0, bfloat16: 0, float16: 0 } });
  const out = {
    ...(Object.fromEntries(BACKEND_NAMES.map((n) => [n, none()])) as Record<BackendName, BackendMemory>),
    tensors: liveTensorCount(),
    leaked: leakedTensorCount(),
  };
  for (const b of startedBackends()) out[b.name] = b.memory();
  return out;
}

/**
 * Gives the allocators' cached free blocks back to the system (`cachedBytes` in memory() drops to
 * 0) on every started backend, after their queued work; live tensors are untouched. The CPU
 * allocator keeps up to 1 GiB of freed blocks for reuse, which is fast while training but holds
 * memory in a service that embeds now and then (like torch.cuda.empty_cache()).
 */
export async function emptyCache(): Promise<void> {
  const started = startedBackends();
  for (const b of started) await b.sync();
  if (started.some((b) => b.name === 'cpu' || b.name === 'cuda')) nativeAddon().emptyCache();
  for (const b of started) (b as { emptyCache?: () => void }).emptyCache?.();
}
