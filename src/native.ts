// Loads ifa_native.node: the cmake-js build (build-cmake/) first, then node-gyp's (build/), or the
// file named by IFA_NATIVE_PATH.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DType } from './core/dtype.js';

export interface NativeCudaInfo {
  compiled: boolean;
  /** The CUDA emulator build (kernels/cuda/emu): CUDA kernels compiled as C++, run on the CPU. */
  emulator?: boolean;
  architectures: string;
  toolkit: string;
  available: boolean;
  deviceCount: number;
  device?: string;
  reason?: string;
}

export interface NativeInfo {
  version: string;
  buildSystem: string;
  threads: number;
  cuda: NativeCudaInfo;
}

export type NativeTensorArg = [number, number[]];

export type NativeDevice = 'cpu' | 'cuda';

export interface NativeKernelContract {
  inputs: number;
  outputs: number;
  inputRoles: string;
  outputRoles: string;
  inPlace: boolean;
  anyDtype: boolean;
}
export interface NativeDeviceMemory {
  buffers: number;
  bytes: number;
  cachedBytes: number;
  /** Live bytes per dtype (numel · element size). */
  dtypeBytes: Record<DType, number>;
}

/**
 * The addon's entry points. A buffer lives on the device it was allocated on; run() executes on the
 * device of its buffers (all one device); read/write/free work on either. Buffers hold float32,
 * bfloat16 or float16; data in and out is a Float32Array, rounded (to nearest even) on the way in and
 * widened exactly on the way out. run() refuses a dtype the kernel does not take with a TypeError
 * naming the kernel, the slot and the dtypes (kernelDtypes lists them). The CUDA entry points
 * (device 'cuda', memory().cuda, the timing events) exist when info().cuda.compiled is true.
 */
export interface NativeAddon {
  alloc(numel: number, data?: Float32Array, device?: NativeDevice, dtype?: DType): number;
  free(handle: number): boolean;
  write(handle: number, data: Float32Array): void;
  read(handle: number): Promise<Float32Array>;
  sync(device?: NativeDevice): Promise<void>;
  /** Enqueues a kernel; while kernel timing is on (traceEnable), returns its id for traceTake. */
  run(kernel: string, inputs: NativeTensorArg[], outputs: NativeTensorArg[], attrs?: object): number | undefined;
  /** Kernel timing on (clearing what was recorded; ids restart at 1) or off. */
  traceEnable(on: boolean): void;
  /**
   * The kernels and stream tasks (write, read: id 0) that completed since the last take: spans holds
   * [id, device (0 cpu, 1 cuda), beginNs, endNs] per name, in traceNow() time. CPU: the stream
   * thread's begin and end of each task; CUDA: an event pair around each launch (waited for here).
   */
  traceTake(): { names: string[]; spans: Float64Array; dropped: number };
  /** The clock of traceTake's spans (steady_clock), in nanoseconds. */
  traceNow(): number;
  /**
   * Throws what run() would throw for float32 tensors of these shapes (counts, then the kernel's
   * validator), touching no memory; messages without run()'s "ifa_native.run: " prefix. For
   * backends outside the addon (WebGPU), so every backend checks a call with the one validator.
   */
  validate(kernel: string, inputShapes: number[][], outputShapes: number[][], attrs?: object, device?: NativeDevice): void;
  /** The registered contracts (tensor counts, −1 for any; slot roles; in place; any dtype). */
  kernelContracts(device?: NativeDevice): Record<string, NativeKernelContract>;
  memory(): { cpu: NativeDeviceMemory & { handles: number }; cuda?: NativeDeviceMemory };
  emptyCache(): void;
  setThreads(n: number): void;
  kernels(device?: NativeDevice): string[];
  /** Per kernel, the dtypes its T slots take on that device (every dtype for cast). */
  kernelDtypes(device?: NativeDevice): Record<string, DType[]>;
  info(): NativeInfo;
  /** Calls fn with fd 2 pointed at /dev/null (restored after, also on a throw): for other packages' native prints. */
  quietStderr?<T>(fn: () => T): T;
  /** Records a timing event on the CUDA stream; a handle for cudaEventElapsed. */
  cudaEventRecord?(): number;
  /** Milliseconds between two recorded events, once the later one completed (each handle used once). */
  cudaEventElapsed?(start: number, end: number): Promise<number>;
  /** The tensor-core convolution plans chosen so far, one line per (kernel, shape, dtype), oldest first. */
  convPlans?(): string[];
}

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('ifa-ssl: cannot find the package root (package.json beside native/)');
}

let cached: { addon: NativeAddon; path: string } | null = null;

export function nativeAddon(): NativeAddon {
  return loadNative().addon;
}

export function nativePath(): string {
  return loadNative().path;
}

function loadNative(): { addon: NativeAddon; path: string } {
  if (cached) return cached;
  const override = process.env.IFA_NATIVE_PATH;
  const candidates = override
    ? [override]
    : [join(packageRoot(), 'build-cmake', 'Release', 'ifa_native.node'), join(packageRoot(), 'build', 'Release', 'ifa_native.node')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `ifa-ssl: the native addon is not built (looked for ${candidates.join(', ')}). ` +
        'Run `npm run build:native` (cmake-js) or `npm run build:gyp` (node-gyp).',
    );
  }
  const require = createRequire(import.meta.url);
  cached = { addon: require(found) as NativeAddon, path: found };
  return cached;
}
