// Which backends exist, which can run, and which one new tensors go to by default. The table below
// has one row per name in BACKEND_NAMES: how to start that backend, at once (CPU and CUDA: the addon
// knows) or with a promise (WebGPU asks for an adapter, on first use).
import { BACKEND_NAMES, type Backend, type BackendName, type BackendStatus } from './backend.js';
import { CpuBackend } from './cpu.js';
import { CudaBackend } from './cuda.js';

type BackendStart =
  /** Constructs the backend; its status() says whether it can run. */
  | { sync: () => Backend }
  /** Resolves with the status and, when available, the backend; a rejection is a failed start. */
  | { async: () => Promise<{ backend: Backend | null; status: BackendStatus }> };

const BACKENDS: Record<BackendName, BackendStart> = {
  cpu: { sync: () => new CpuBackend() },
  cuda: { sync: () => new CudaBackend() },
  webgpu: { async: async () => (await import('./webgpu/index.js')).createWebGPUBackend() },
};

const instances = new Map<BackendName, Backend>();
const statuses = new Map<BackendName, BackendStatus>();
const starting = new Map<BackendName, Promise<void>>();
let current: BackendName = 'cpu';

function checkName(name: unknown, what: string): BackendName {
  if (typeof name !== 'string' || !(BACKEND_NAMES as readonly string[]).includes(name)) {
    throw new TypeError(`${what}: unknown backend ${JSON.stringify(name)}; expected one of ${BACKEND_NAMES.join(', ')}`);
  }
  return name as BackendName;
}

function record(name: BackendName, backend: Backend | null, status: BackendStatus): void {
  statuses.set(name, status);
  if (backend && status.available) instances.set(name, backend);
}

/** Starts a sync backend at once; an async one is left to start(). */
function startSync(name: BackendName): void {
  const row = BACKENDS[name];
  if (statuses.has(name) || !('sync' in row)) return;
  const b = row.sync();
  record(name, b, b.status());
}

function start(name: BackendName): Promise<void> {
  const row = BACKENDS[name];
  if ('sync' in row) {
    startSync(name);
    return Promise.resolve();
  }
  let p = starting.get(name);
  if (!p) {
    p = (async () => {
      try {
        const { backend, status } = await row.async();
        record(name, backend, status);
      } catch (e) {
        statuses.set(name, { name, available: false, reason: `failed to start: ${(e as Error).message}` });
      }
    })();
    starting.set(name, p);
  }
  return p;
}

/** Starts a backend (WebGPU asks for an adapter) and returns it; throws with the reason if unavailable. */
export async function initBackend(name: BackendName): Promise<Backend> {
  checkName(name, 'initBackend');
  await start(name);
  return getBackend(name);
}

/** The status of every backend: [{name, available, device?, reason?}] for cpu, cuda, webgpu. */
export async function backends(): Promise<BackendStatus[]> {
  for (const name of BACKEND_NAMES) await start(name);
  return BACKEND_NAMES.map((n) => ({ ...statuses.get(n)! }));
}

/** A started backend. WebGPU must have been started by initBackend/setBackend/backends first. */
export function getBackend(name: BackendName): Backend {
  checkName(name, 'getBackend');
  startSync(name);
  const b = instances.get(name);
  if (b) return b;
  const s = statuses.get(name);
  if (!s) throw new Error(`backend ${name} is not started yet: call await initBackend('${name}') or await setBackend('${name}') first`);
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
