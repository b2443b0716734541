// The WebGPU backend: WGSL kernels (kernels/wgsl/) on one device queue. run() validates, encodes the
// kernel's dispatches (one or more: reductions take several, multi-tensor optimizers one per tensor)
// into one compute pass and submits it at once; only read() and sync() wait, and they wait with promises
// (mapAsync, onSubmittedWorkDone), never blocking the event loop.
//
// GPU errors are asynchronous: each run() sits in a validation error scope whose result is recorded
// when it arrives; the first recorded error (or an uncaptured error, or a lost device) rejects the
// next read() or sync(), naming the kernel. Storage is float32 only: a half-dtype alloc is refused.
import type { DType } from '../../core/dtype.js';
import { nowUs } from '../../core/clock.js';
import type { Backend, BackendMemory, BackendStatus, DeviceSpan, KernelAttrs, Storage, TensorRef } from '../backend.js';
import { KERNEL_NAMES, PARAM_WORDS, planKernel, type Pass, type Resource, type Scratch } from './kernels.js';
import type { ShaderFile } from './shaders.js';
import { BufferPool, WebGPUStorage, byteSizeFor, webgpuStorage } from './storage.js';
import { type SplitPlan, bindingLimit, planSplit, splitCalls } from './split.js';

/** GPUBufferUsage / GPUMapMode values, from the `webgpu` package's globals (not installed globally). */
export interface WebGPUConstants {
  bufferUsage: { STORAGE: number; COPY_SRC: number; COPY_DST: number; MAP_READ: number; UNIFORM: number; QUERY_RESOLVE: number };
  mapRead: number;
}

/** Words between consecutive passes' params blocks (256 bytes). */
const PARAM_STRIDE_WORDS = 64;

const FLOAT32_ONLY: readonly DType[] = Object.freeze(['float32'] as const);

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  private readonly pool = new BufferPool();
  private readonly stagingPool = new BufferPool();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private paramsBuffer: GPUBuffer;
  private paramsCapacity = 16;
  private liveBuffers = 0;
  private liveBytes = 0;
  private firstError: Error | null = null;
  private readonly pendingScopes = new Set<Promise<void>>();
  private lostError: Error | null = null;
  private destroyed = false;
  private readonly storageUsage: number;
  /** timeMs(): while set, each run's compute pass writes timestamps (begin of the first, end of each). */
  private stamps: { querySet: GPUQuerySet; begun: boolean } | null = null;
  /** Kernel timing (traces, the profiler): submit→complete spans, see run(). */
  private timing: { id: number; lastEndUs: number; spans: DeviceSpan[]; pending: Set<Promise<void>> } | null = null;
  /** The Dawn instance from create(): when it is garbage-collected the device dies under us. */
  private gpu: GPU | null;

  constructor(
    gpu: GPU,
    readonly device: GPUDevice,
    private readonly modules: Record<ShaderFile, GPUShaderModule>,
    private readonly constants: WebGPUConstants,
    private readonly deviceName: string,
  ) {
    this.gpu = gpu;
    const U = constants.bufferUsage;
    this.storageUsage = U.STORAGE | U.COPY_SRC | U.COPY_DST;
    // One params buffer serves every run: each pass gets its own 256-byte block (a multiple of any
    // minUniformBufferOffsetAlignment); queue.writeBuffer is ordered with queue.submit, and each run
    // is one submit, so its passes see the words written just before it.
    this.paramsBuffer = device.createBuffer({ label: 'ifa-webgpu params', size: this.paramsCapacity * PARAM_STRIDE_WORDS * 4, usage: U.UNIFORM | U.COPY_DST });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.record(new Error(`webgpu: uncaptured ${errorKind(ev.error)}: ${ev.error.message}`));
    };
    void device.lost.then((info) => {
      if (this.destroyed) return;
      this.lostError = new Error(`webgpu: device lost (${info.reason}): ${info.message}`);
      this.record(this.lostError);
    });
  }

  status(): BackendStatus {
    if (this.destroyed) return { name: 'webgpu', available: false, device: this.deviceName, reason: 'the backend was destroyed' };
    if (this.lostError) return { name: 'webgpu', available: false, device: this.deviceName, reason: this.lostError.message };
    return { name: 'webgpu', available: true, device: this.deviceName };
  }

  hasKernel(kernel: string): boolean {
    return KERNEL_NAMES.includes(kernel);
  }

  kernelDtypes(kernel: string): readonly DType[] {
    return this.hasKernel(kernel) ? FLOAT32_ONLY : [];
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  alloc(numel: number, data?: Float32Array, dtype: DType = 'float32'): Storage {
    this.checkUsable('alloc');
    if (dtype !== 'float32') {
      throw new Error(
        `alloc: the webgpu backend stores float32 only, not ${String(dtype)}; use dtype 'float32' on webgpu, or the cpu or cuda backend for ${String(dtype)} tensors`,
      );
    }
    if (typeof numel !== 'number' || !Number.isInteger(numel) || numel < 0) {
      throw new RangeError(`alloc: numel must be a non-negative integer, got ${String(numel)}`);
    }
    if (data !== undefined) {
      if (!(data instanceof Float32Array)) throw new TypeError('alloc: data must be a Float32Array');
      if (data.length !== numel) throw new RangeError(`alloc: data has ${data.length} elements, numel is ${numel}`);
    }
    const byteSize = byteSizeFor(numel);
    const max = this.device.limits.maxBufferSize;
    if (byteSize > max) {
      throw new RangeError(`alloc: ${numel} elements need ${byteSize} bytes, more than this device's maxBufferSize (${max} bytes)`);
    }
    let buffer = this.pool.take(byteSize);
    if (!buffer) buffer = this.device.createBuffer({ size: byteSize, usage: this.storageUsage });
    const s = new WebGPUStorage(buffer, numel, byteSize);
    this.liveBuffers++;
    this.liveBytes += byteSize;
    if (data && numel > 0) this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, numel * 4);
    return s;
  }

  free(storage: Storage): void {
    const s = webgpuStorage(storage, 'free', true);
    if (s.freed) return;
    s.freed = true;
    this.liveBuffers--;
    this.liveBytes -= s.byteSize;
    if (this.destroyed) return;
    this.pool.give(s.byteSize, s.buffer);
  }

  write(storage: Storage, data: Float32Array): void {
    this.checkUsable('write');
    const s = webgpuStorage(storage, 'write');
    if (!(data instanceof Float32Array)) throw new TypeError('write: data must be a Float32Array');
    if (data.length !== s.numel) throw new RangeError(`write: data has ${data.length} elements, the buffer holds ${s.numel}`);
    if (s.numel > 0) this.device.queue.writeBuffer(s.buffer, 0, data.buffer, data.byteOffset, s.numel * 4);
  }

  read(storage: Storage): Promise<Float32Array> {
    try {
      this.checkUsable('read');
      const s = webgpuStorage(storage, 'read');
      return this.readAsync(s);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private async readAsync(s: WebGPUStorage): Promise<Float32Array> {
    const U = this.constants.bufferUsage;
    const staging =
      this.stagingPool.take(s.byteSize) ??
      this.device.createBuffer({ label: 'ifa-webgpu read-back', size: s.byteSize, usage: U.MAP_READ | U.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(s.buffer, 0, staging, 0, s.byteSize);
    this.device.queue.submit([enc.finish()]);
    let out: Float32Array;
    try {
      await staging.mapAsync(this.constants.mapRead, 0, s.byteSize);
    } catch (e) {
      staging.destroy();
      await this.settleScopes();
      this.throwRecorded();
      throw new Error(`read: mapping the read-back buffer failed: ${(e as Error).message}`);
    }
    try {
      out = new Float32Array(staging.getMappedRange(0, s.byteSize).slice(0, s.numel * 4));
    } finally {
      staging.unmap();
    }
    if (this.destroyed) staging.destroy();
    else this.stagingPool.give(s.byteSize, staging);
    await this.settleScopes();
    this.throwRecorded();
    return out;
  }

  /**
   * A kernel whose one output is a sum over the batch (conv2dBackwardFilter), past one binding: the
   * first chunk writes the output, each later one a temporary that is added in (add, then a copy
   * back by broadcastTo), all in queue order.
   */
  private runSummed(kernel: string, split: SplitPlan, inputs: TensorRef[], outputs: TensorRef[], attrs?: KernelAttrs): number | void {
    const out = outputs[0];
    const numel = (out.storage as WebGPUStorage).numel;
    const part = this.alloc(numel) as WebGPUStorage;
    const sum = this.alloc(numel) as WebGPUStorage;
    const ref = (st: WebGPUStorage): TensorRef => ({ shape: out.shape, storage: st });
    let id: number | void = undefined;
    try {
      let first = true;
      for (const [ins, outs] of splitCalls(kernel, split, inputs, outputs)) {
        if (first) {
          id = this.run(kernel, ins, outs, attrs);
          first = false;
          continue;
        }
        this.run(kernel, ins, [ref(part)], attrs);
        this.run('add', [out, ref(part)], [ref(sum)]);
        id = this.run('broadcastTo', [ref(sum)], [out], { scale: 1 });
      }
    } finally {
      this.free(part);
      this.free(sum);
    }
    return id;
  }

  async sync(): Promise<void> {
    this.checkUsable('sync');
    await this.device.queue.onSubmittedWorkDone();
    if (this.timing) await Promise.all([...this.timing.pending]);
    await this.settleScopes();
    this.throwRecorded();
  }

  run(kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs?: KernelAttrs): number | void {
    this.checkUsable(typeof kernel === 'string' ? kernel : 'run');
    let plan = planKernel(kernel, inputs, outputs, attrs);
    const maxBinding = bindingLimit(this.device.limits.maxStorageBufferBindingSize);
    const named = [
      ...inputs.map((t, i) => [`inputs[${i}]`, t.storage as WebGPUStorage] as const),
      ...outputs.map((t, i) => [`outputs[${i}]`, t.storage as WebGPUStorage] as const),
    ];
    const over = named.find(([, s]) => s.byteSize > maxBinding);
    if (over) {
      // Past one binding: split along the batch where the kernel allows it (split.ts), else refuse.
      const split = planSplit(kernel, inputs, outputs, attrs ?? {}, maxBinding, this.device.limits.minStorageBufferOffsetAlignment);
      if (typeof split === 'string') {
        throw new RangeError(
          `${kernel}: ${over[0]} is ${over[1].byteSize} bytes, more than this device's maxStorageBufferBindingSize (${maxBinding} bytes), and ${split}; use a smaller batch or image`,
        );
      }
      if (split.mode === 'sum') return this.runSummed(kernel, split, inputs, outputs, attrs);
      if (split.mode === 'plan') {
        plan = planKernel(kernel, inputs, outputs, attrs, split.chunk);
      } else {
        let id: number | void = undefined;
        for (const [ins, outs] of splitCalls(kernel, split, inputs, outputs)) id = this.run(kernel, ins, outs, attrs);
        return id;
      }
    }
    const maxStorage = this.device.limits.maxStorageBuffersPerShaderStage;
    for (const p of plan.passes) {
      if (p.bind.length > maxStorage) {
        throw new RangeError(`${kernel}: ${p.file}.wgsl:${p.entry} binds ${p.bind.length} storage buffers, more than this device's maxStorageBuffersPerShaderStage (${maxStorage})`);
      }
    }
    const passes = plan.passes.filter((p) => p.workgroups > 0);
    if (passes.length === 0) return;
    const grids = passes.map((p) => this.grid(kernel, p.workgroups));
    const device = this.device;
    device.pushErrorScope('validation');
    let dawnError: unknown = null;
    const temps = new Map<Scratch, GPUBuffer>();
    let current = passes[0];
    try {
      const paramsBuffer = this.paramsFor(passes.length);
      const all = new Uint32Array(passes.length * PARAM_STRIDE_WORDS);
      passes.forEach((p, i) => all.set(p.params.subarray(0, PARAM_WORDS), i * PARAM_STRIDE_WORDS));
      device.queue.writeBuffer(paramsBuffer, 0, all);
      const enc = device.createCommandEncoder();
      const st = this.stamps;
      const pass = enc.beginComputePass(
        st ? { timestampWrites: { querySet: st.querySet, ...(st.begun ? {} : { beginningOfPassWriteIndex: 0 }), endOfPassWriteIndex: 1 } } : undefined,
      );
      if (st) st.begun = true;
      passes.forEach((p, i) => {
        current = p;
        const pipeline = this.pipeline(p);
        const entries: GPUBindGroupEntry[] = p.bind.map(([binding, r]) => ({
          binding,
          resource: r instanceof WebGPUStorage && r.isView ? { buffer: r.buffer, offset: r.byteOffset, size: r.byteSize } : { buffer: this.resolve(r, temps) },
        }));
        entries.push({ binding: p.paramsAt, resource: { buffer: paramsBuffer, offset: i * PARAM_STRIDE_WORDS * 4, size: PARAM_WORDS * 4 } });
        const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(grids[i][0], grids[i][1]);
      });
      pass.end();
      device.queue.submit([enc.finish()]);
    } catch (e) {
      dawnError = e;
    }
    for (const [sc, buf] of temps) this.pool.give(byteSizeFor(sc.numel), buf);
    const where = passes.length === 1 ? `${current.file}.wgsl:${current.entry}` : passes.map((p) => `${p.file}.wgsl:${p.entry}`).join(', ');
    const scope = device.popErrorScope().then(
      (err) => {
        if (err) this.record(new Error(`${kernel}: WebGPU ${errorKind(err)} in ${where}: ${err.message}`));
      },
      (e: Error) => this.record(new Error(`${kernel}: popErrorScope failed: ${e.message}`)),
    );
    this.pendingScopes.add(scope);
    void scope.finally(() => this.pendingScopes.delete(scope));
    if (dawnError) throw new Error(`${kernel}: WebGPU call failed: ${(dawnError as Error).message ?? String(dawnError)}`);
    if (this.timing) return this.timeSubmit(kernel);
  }

  /** Whether timeMs reads device timestamps (the adapter's timestamp-query feature). */
  get hasTimestamps(): boolean {
    return this.device.features.has('timestamp-query');
  }

  /**
   * Device milliseconds for the work `fn` enqueues, as CudaBackend.timeMs: with timestamp-query,
   * from the start of its first compute pass to the end of its last (queue gaps between its submits
   * included, as between CUDA events); without, the wall time from the call to the queue's
   * completion (an upper bound, with Dawn's polling latency). Resolves once that work is done.
   */
  async timeMs(fn: () => void): Promise<number> {
    this.checkUsable('timeMs');
    if (this.stamps) throw new Error('timeMs: already timing (calls do not nest)');
    if (!this.hasTimestamps) {
      await this.device.queue.onSubmittedWorkDone();
      const t0 = performance.now();
      fn();
      await this.device.queue.onSubmittedWorkDone();
      this.throwRecorded();
      return performance.now() - t0;
    }
    const U = this.constants.bufferUsage;
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolved = this.device.createBuffer({ label: 'ifa-webgpu timestamps', size: 16, usage: U.QUERY_RESOLVE | U.COPY_SRC });
    const readback = this.device.createBuffer({ label: 'ifa-webgpu timestamps read', size: 16, usage: U.MAP_READ | U.COPY_DST });
    try {
      this.stamps = { querySet, begun: false };
      try {
        fn();
      } finally {
        this.stamps = null;
      }
      const enc = this.device.createCommandEncoder();
      enc.resolveQuerySet(querySet, 0, 2, resolved, 0);
      enc.copyBufferToBuffer(resolved, 0, readback, 0, 16);
      this.device.queue.submit([enc.finish()]);
      await readback.mapAsync(this.constants.mapRead);
      const [begin, end] = new BigInt64Array(readback.getMappedRange().slice(0));
      readback.unmap();
      this.throwRecorded();
      return Number(end - begin) / 1e6;
    } finally {
      querySet.destroy();
      resolved.destroy();
      readback.destroy();
    }
  }

  setKernelTiming(on: boolean): void {
    this.timing = on ? { id: 0, lastEndUs: 0, spans: [], pending: new Set() } : null;
  }

  takeKernelSpans(): DeviceSpan[] {
    if (!this.timing) return [];
    const spans = this.timing.spans;
    this.timing.spans = [];
    return spans;
  }

  /**
   * Without timestamp queries, a kernel's span runs from its submit (or the previous kernel's
   * completion, if later: the queue runs one submit after another) to onSubmittedWorkDone's
   * resolution, which also holds Dawn's polling latency: an upper bound of the kernel's time.
   */
  private timeSubmit(kernel: string): number {
    const t = this.timing!;
    const id = ++t.id;
    const submitted = nowUs();
    const done = this.device.queue.onSubmittedWorkDone().then(() => {
      const end = nowUs();
      t.spans.push({ id, name: kernel, beginUs: Math.max(submitted, t.lastEndUs), endUs: end });
      t.lastEndUs = end;
      t.pending.delete(done);
    });
    t.pending.add(done);
    return id;
  }

  /** The buffer behind a pass resource; scratch buffers come from the pool, once per run. */
  private resolve(r: Resource, temps: Map<Scratch, GPUBuffer>): GPUBuffer {
    if (r instanceof WebGPUStorage) return r.buffer;
    let b = temps.get(r);
    if (!b) {
      const size = byteSizeFor(r.numel);
      if (size > this.device.limits.maxStorageBufferBindingSize) {
        throw new RangeError(`scratch buffer of ${size} bytes exceeds maxStorageBufferBindingSize`);
      }
      b = this.pool.take(size) ?? this.device.createBuffer({ label: 'ifa-webgpu scratch', size, usage: this.storageUsage });
      temps.set(r, b);
      if (r.data && r.data.length) this.device.queue.writeBuffer(b, 0, r.data.buffer, r.data.byteOffset, r.data.byteLength);
    }
    return b;
  }

  /** A params buffer with room for `passes` parameter blocks (grown on demand). */
  private paramsFor(passes: number): GPUBuffer {
    if (passes > this.paramsCapacity) {
      // The old buffer may still be read by queued work; WebGPU keeps it alive until then.
      this.paramsBuffer.destroy();
      this.paramsCapacity = Math.max(passes, this.paramsCapacity * 2);
      const U = this.constants.bufferUsage;
      this.paramsBuffer = this.device.createBuffer({ label: 'ifa-webgpu params', size: this.paramsCapacity * PARAM_STRIDE_WORDS * 4, usage: U.UNIFORM | U.COPY_DST });
    }
    return this.paramsBuffer;
  }

  memory(): BackendMemory {
    return {
      buffers: this.liveBuffers,
      bytes: this.liveBytes,
      cachedBytes: this.pool.cachedBytes + this.stagingPool.cachedBytes,
      dtypeBytes: { float32: this.liveBytes, bfloat16: 0, float16: 0 },
    };
  }

  /** Destroys the pooled (freed) buffers; live storage is untouched. */
  emptyCache(): void {
    this.pool.clear();
    this.stagingPool.clear();
  }

  /**
   * Destroys the device so the process can exit; every storage becomes unusable. Dawn keeps Node's
   * event loop alive while a device is held, so long-lived programs call this when done.
   */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emptyCache();
    this.pipelines.clear();
    this.device.onuncapturederror = null;
    this.device.destroy();
    if (this.gpu) this.gpu = null;
  }

  private pipeline(plan: Pass): GPUComputePipeline {
    const key = `${plan.file}:${plan.entry}`;
    let p = this.pipelines.get(key);
    if (!p) {
      // layout 'auto': the bind group layout is exactly the bindings the entry point uses, so any
      // number of inputs and outputs (within maxStorageBuffersPerShaderStage) works.
      p = this.device.createComputePipeline({
        label: key,
        layout: 'auto',
        compute: { module: this.modules[plan.file], entryPoint: plan.entry },
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** Folds a workgroup count into (x, y), each within maxComputeWorkgroupsPerDimension. */
  private grid(kernel: string, groups: number): [number, number] {
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (groups <= max) return [groups, 1];
    const y = Math.ceil(groups / max);
    if (y > max) throw new RangeError(`${kernel}: ${groups} workgroups exceed this device's dispatch limit (${max}×${max})`);
    return [Math.ceil(groups / y), y];
  }

  private record(e: Error): void {
    if (!this.firstError) this.firstError = e;
  }

  private async settleScopes(): Promise<void> {
    while (this.pendingScopes.size) await Promise.all([...this.pendingScopes]);
  }

  private throwRecorded(): void {
    const e = this.firstError ?? this.lostError;
    this.firstError = null;
    if (e) throw e;
  }

  private checkUsable(what: string): void {
    if (this.destroyed) throw new Error(`${what}: the webgpu backend was destroyed`);
    if (this.lostError) throw new Error(`${what}: ${this.lostError.message}`);
  }
}

function errorKind(e: GPUError): string {
  const n = e?.constructor?.name;
  return n && n !== 'Object' ? n : 'error';
}
