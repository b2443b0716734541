// Which backends exist, which can run, and which one new tensors go to by default. CPU and CUDA
// answer at once (the addon knows); WebGPU needs an async adapter request, made on first use.
import { BACKEND_NAMES, type Backend, type BackendName, type BackendStatus } from './backend.js';
import { CpuBackend } from './cpu.js';
import { CudaBackend } from './cuda.js';

const instances = new Map<BackendName, Backend>();
const statuses = new Map<BackendName, BackendStatus>();
let webgpuInit: Promise<void> | null = null;
let current: BackendName = 'cpu';

function checkName(name: unknown, what: string): BackendName {
  if (typeof name !== 'string' || !(BACKEND_NAMES as readonly string[]).includes(name)) {
    throw new TypeError(`${what}: unknown backend ${JSON.stringify(name)}; expected one of ${BACKEND_NAMES.join(', ')}`);
  }
  return name as BackendName;
}

function initSync(name: 'cpu' | 'cuda'): void {
  if (statuses.has(name)) return;
  const b = name === 'cpu' ? new CpuBackend() : new CudaBackend();
  const s = b.status();
  statuses.set(name, s);
  if (s.available) instances.set(name, b);
}

function initWebGPU(): Promise<void> {
  if (!webgpuInit) {
    webgpuInit = (async () => {
      try {
        const mod = await import('./webgpu/index.js');
        const { backend, status } = await mod.createWebGPUBackend();
        statuses.set('webgpu', status);
        if (backend && status.available) instances.set('webgpu', backend);
      } catch (e) {
        statuses.set('webgpu', { name: 'webgpu', available: false, reason: `failed to start: ${(e as Error).message}` });
      }
    })();
  }
  return webgpuInit;
}

/** Starts a backend (WebGPU asks for an adapter) and returns it; throws with the reason if unavailable. */
export async function initBackend(name: BackendName): Promise<Backend> {
  checkName(name, 'initBackend');
  if (name === 'webgpu') await initWebGPU();
  else initSync(name);
  return getBackend(name);
}

/** The status of every backend: [{name, available, device?, reason?}] for cpu, cuda, webgpu. */
export async function backends(): Promise<BackendStatus[]> {
  initSync('cpu');
  initSync('cuda');
  await initWebGPU();
  return BACKEND_NAMES.map((n) => ({ ...statuses.get(n)! }));
}

/** A started backend. WebGPU must have been started by initBackend/setBackend/backends first. */
export function getBackend(name: BackendName): Backend {
  checkName(name, 'getBackend');
  if (name !== 'webgpu') initSync(name);
  const b = instances.get(name);
  if (b) return b;
  const s = statuses.get(name);
  if (!s) throw new Error(`backend webgpu is not started yet: call await initBackend('webgpu') or await setBackend('webgpu') first`);
  throw new Error(`backend ${name} is unavailable: ${s.reason ?? 'unknown reason'}`);
}

/** Makes `name` the default backend for new tensors. */
export async function setBackend(name: BackendName): Promise<void> {
  await initBackend(checkName(name, 'setBackend'));
  current = name;
}

export function getDefaultBackend(): BackendName {
  return current;
}

/** Started backends, for memory accounting. */
export function startedBackends(): Backend[] {
  return [...instances.values()];
}
