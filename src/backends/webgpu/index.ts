// Starts the WebGPU backend over the `webgpu` package (Dawn). Never throws: when the package, an
// adapter, a device or the shaders are missing, it returns backend null and a status with the reason.
import type { BackendStatus } from '../backend.js';
import { SHADER_FILES, findShaderDir, loadShaders, type ShaderFile } from './shaders.js';
import { WebGPUBackend, type WebGPUConstants } from './webgpu-backend.js';
import { nativeAddon } from '../../native.js';

export { WebGPUBackend } from './webgpu-backend.js';
export { WebGPUStorage } from './storage.js';

export interface WebGPUOptions {
  /** Directory holding the .wgsl files; defaults to IFA_WGSL_DIR, then kernels/wgsl above this file or the cwd. */
  shaderDir?: string;
  /** Options passed to the `webgpu` package's create(), e.g. ['backend=vulkan']. */
  dawnOptions?: string[];
}

export type Result = { backend: WebGPUBackend | null; status: BackendStatus };

function unavailable(reason: string): Result {
  return { backend: null, status: { name: 'webgpu', available: false, reason } };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A readable adapter name, e.g. "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) — mesa, software, fallback adapter". */
function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info;
  // The fields are getters on the prototype, so read them one by one.
  const main = info?.description || info?.device || 'unknown adapter';
  const extra = [info?.vendor, info?.architecture].filter((s) => s && !main.includes(s));
  if ((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter) extra.push('fallback adapter');
  return extra.length ? `${main} (${extra.join(', ')})` : main;
}

export async function createWebGPUBackend(options: WebGPUOptions = {}): Promise<Result> {
  let pkg: { create(opts: string[]): GPU; globals: Record<string, unknown> };
  try {
    pkg = (await import('webgpu')) as unknown as typeof pkg;
  } catch (e) {
    return unavailable(`the 'webgpu' package failed to load: ${message(e)}`);
  }

  const { dir, searched } = findShaderDir(options.shaderDir);
  if (!dir) return unavailable(`WGSL shaders not found: no elementwise.wgsl in ${searched.join('; ')}`);
  let sources: Record<ShaderFile, string>;
  try {
    sources = loadShaders(dir);
  } catch (e) {
    return unavailable(`reading WGSL shaders from ${dir} failed: ${message(e)}`);
  }

  const g = pkg.globals as {
    GPUBufferUsage?: WebGPUConstants['bufferUsage'];
    GPUMapMode?: { READ: number };
  };
  if (!g.GPUBufferUsage || !g.GPUMapMode) return unavailable("the 'webgpu' package exports no GPUBufferUsage/GPUMapMode");
  const constants: WebGPUConstants = { bufferUsage: g.GPUBufferUsage, mapRead: g.GPUMapMode.READ };

  let gpu: GPU;
  let adapter: GPUAdapter | null;
  try {
    gpu = pkg.create(options.dawnOptions ?? []);
    // Dawn prints "maxDynamic… artificially reduced" warnings to stderr (natively) inside
    // requestAdapter's synchronous part on lavapipe; they stay off stderr unless IFA_WEBGPU_VERBOSE=1.
    const request = () => gpu.requestAdapter({ powerPreference: 'high-performance' });
    adapter = await (process.env.IFA_WEBGPU_VERBOSE === '1' ? request() : quietly(request));
  } catch (e) {
    return unavailable(`requesting a WebGPU adapter failed: ${message(e)}`);
  }
  if (!adapter) return unavailable('no WebGPU adapter: Dawn found no usable Vulkan/Metal/D3D12 device');
  const deviceName = describeAdapter(adapter);
  if (adapter.info?.device === 'null-backend') {
    return { backend: null, status: { name: 'webgpu', available: false, device: deviceName, reason: "Dawn's null backend executes no kernels" } };
  }

  let device: GPUDevice;
  try {
    // Ask for the adapter's full buffer limits; the defaults (128 MiB binding, 256 MiB buffer) are
    // smaller than many activations.
    const al = adapter.limits;
    // timestamp-query, where the adapter has it, lets timeMs() read device time (WebGPUBackend.timeMs).
    const wanted: GPUFeatureName[] = process.env.IFA_WEBGPU_TIMESTAMPS === '0' ? [] : (['timestamp-query'] as GPUFeatureName[]).filter((f) => adapter!.features.has(f));
    device = await adapter.requestDevice({
      label: 'ifa-ssl',
      requiredFeatures: wanted,
      requiredLimits: {
        maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
        maxBufferSize: al.maxBufferSize,
      },
    });
  } catch (e) {
    return { backend: null, status: { name: 'webgpu', available: false, device: deviceName, reason: `requestDevice failed: ${message(e)}` } };
  }

  // Compile the shader modules now so a broken shader shows up as a clear status, not a failed run.
  try {
    const modules = {} as Record<ShaderFile, GPUShaderModule>;
    const problems: string[] = [];
    // The scope keeps Dawn from also printing compile errors as uncaptured ones.
    device.pushErrorScope('validation');
    for (const f of SHADER_FILES) modules[f] = device.createShaderModule({ label: `${f}.wgsl`, code: sources[f] });
    const scopeError = await device.popErrorScope();
    for (const f of SHADER_FILES) {
      const info = await modules[f].getCompilationInfo();
      for (const m of info.messages) {
        if (m.type === 'error') problems.push(`${f}.wgsl:${m.lineNum}:${m.linePos}: ${m.message}`);
      }
    }
    if (scopeError && !problems.length) problems.push(scopeError.message);
    if (problems.length) {
      device.destroy();
      return { backend: null, status: { name: 'webgpu', available: false, device: deviceName, reason: `WGSL compile errors: ${problems.join('; ')}` } };
    }
    const backend = new WebGPUBackend(gpu, device, modules, constants, deviceName);
    return { backend, status: backend.status() };
  } catch (e) {
    device.destroy();
    return { backend: null, status: { name: 'webgpu', available: false, device: deviceName, reason: `starting the device failed: ${message(e)}` } };
  }
}

/** fn() with stderr silenced by the addon when it is loaded (else as is). */
function quietly<T>(fn: () => T): T {
  let addon: ReturnType<typeof nativeAddon> | null = null;
  try {
    addon = nativeAddon();
  } catch {
    // no addon: nothing to silence with
  }
  return addon?.quietStderr ? addon.quietStderr(fn) : fn();
}
