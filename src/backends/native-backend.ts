// The addon-backed backends (CPU and CUDA): one class over the addon's entry points, parameterised by
// the device. A buffer is an addon handle on that device; run() packs the handles and shapes and the
// addon validates (one validator per kernel, shared by both devices) and enqueues. hasKernel lists
// what the addon registered for the device, and kernelDtypes the dtypes each of them takes, so the
// conformance suite runs exactly those ops and dtypes against the CPU and names the rest as skipped.
import { nativeAddon, type NativeAddon, type NativeDevice, type NativeTensorArg } from '../native.js';
import type { DType } from '../core/dtype.js';
import { clockOffsetUs } from '../core/clock.js';
import type { Backend, BackendMemory, BackendStatus, DeviceSpan, KernelAttrs, Storage, TensorRef } from './backend.js';

/**
 * The addon records the spans of both devices in one buffer: a take sorts them into these, from
 * which each backend takes its own. offsetUs maps the addon's clock onto the trace clock.
 */
const timing = { on: 0, offsetUs: 0, pending: { cpu: [] as DeviceSpan[], cuda: [] as DeviceSpan[] } };

function drainAddon(addon: NativeAddon): void {
  const { names, spans } = addon.traceTake();
  for (let i = 0; i < names.length; i++) {
    const device = spans[i * 4 + 1] === 1 ? 'cuda' : 'cpu';
    timing.pending[device].push({ id: spans[i * 4], name: names[i], beginUs: spans[i * 4 + 2] / 1e3 + timing.offsetUs, endUs: spans[i * 4 + 3] / 1e3 + timing.offsetUs });
  }
}

export class NativeStorage implements Storage {
  constructor(
    readonly backend: NativeDevice,
    readonly handle: number,
    readonly numel: number,
    readonly dtype: DType = 'float32',
  ) {}
}

export abstract class NativeBackend implements Backend {
  protected readonly addon: NativeAddon = nativeAddon();
  private kernelNames: Set<string> | null = null;
  private dtypes: Record<string, DType[]> | null = null;

  constructor(readonly name: NativeDevice) {}

  abstract status(): BackendStatus;

  /** Whether the addon was built with this device's kernels (the CPU's always are). */
  protected abstract compiled(): boolean;

  /** Whether the device can run work (cheap: alloc and sync ask it every call). */
  protected abstract available(): boolean;

  hasKernel(kernel: string): boolean {
    this.kernelNames ??= new Set(this.compiled() ? this.addon.kernels(this.name) : []);
    return this.kernelNames.has(kernel);
  }

  /** Kernel names registered for this device in the addon. */
  kernels(): string[] {
    this.hasKernel('');
    return [...this.kernelNames!];
  }

  kernelDtypes(kernel: string): readonly DType[] {
    this.dtypes ??= this.compiled() ? this.addon.kernelDtypes(this.name) : {};
    return this.dtypes[kernel] ?? [];
  }

  alloc(numel: number, data?: Float32Array, dtype: DType = 'float32'): Storage {
    this.requireAvailable('alloc');
    return new NativeStorage(this.name, this.addon.alloc(numel, data, this.name, dtype), numel, dtype);
  }

  free(storage: Storage): void {
    this.addon.free(this.handle(storage, 'free'));
  }

  write(storage: Storage, data: Float32Array): void {
    this.addon.write(this.handle(storage, 'write'), data);
  }

  read(storage: Storage): Promise<Float32Array> {
    try {
      return this.addon.read(this.handle(storage, 'read'));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  sync(): Promise<void> {
    if (!this.available()) return Promise.resolve();
    try {
      return this.addon.sync(this.name);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  run(kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs: KernelAttrs = {}): number | void {
    const pack = (t: TensorRef): NativeTensorArg => [this.handle(t.storage, kernel), t.shape as number[]];
    return this.addon.run(kernel, inputs.map(pack), outputs.map(pack), attrs);
  }

  /** The addon's kernel timing (one switch for CPU and CUDA: on while any native backend wants it). */
  setKernelTiming(on: boolean): void {
    const was = timing.on;
    timing.on = Math.max(0, timing.on + (on ? 1 : -1));
    if (on && was === 0) {
      timing.pending = { cpu: [], cuda: [] };
      timing.offsetUs = clockOffsetUs(() => this.addon.traceNow());
      this.addon.traceEnable(true);
    } else if (!on && timing.on === 0) {
      drainAddon(this.addon);
      this.addon.traceEnable(false);
    }
  }

  takeKernelSpans(): DeviceSpan[] {
    if (timing.on) drainAddon(this.addon);
    const mine = timing.pending[this.name];
    timing.pending[this.name] = [];
    return mine;
  }

  memory(): BackendMemory {
    const m = this.addon.memory()[this.name];
    return m ? { buffers: m.buffers, bytes: m.bytes, cachedBytes: m.cachedBytes, dtypeBytes: m.dtypeBytes } : { buffers: 0, bytes: 0 };
  }

  protected requireAvailable(what: string): void {
    if (!this.available()) throw new Error(`${this.name}.${what}: ${this.name.toUpperCase()} is unavailable: ${this.status().reason}`);
  }

  private handle(storage: Storage, what: string): number {
    if (!(storage instanceof NativeStorage) || storage.backend !== this.name) {
      throw new TypeError(`${what}: expected a ${this.name} storage, got one from the ${storage?.backend ?? 'unknown'} backend`);
    }
    return storage.handle;
  }
}
