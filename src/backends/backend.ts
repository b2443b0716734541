// The contract every backend implements: storage, transfers and kernels by name. Shapes travel with
// each kernel call (storage is a flat float32 array), so reshapes are free.
//
// Kernel catalogue (inputs → outputs; attrs). Every backend implements the kernels it can; the CPU
// backend implements all of them and is the reference the conformance suite compares against.
//   add(a, b) → out            numpy broadcasting; out has the broadcast shape
//   mul(a, b) → out            same
//   broadcastTo(x) → out       out = scale · x broadcast to out's shape; attrs {scale = 1}
//   relu(x) → y
//   reluBackward(dy, y) → dx   dx = dy where y > 0, else 0
//   reduceSum(x) → y           y = scale · Σ over attrs.axes (all when absent); y holds the kept
//                              axes in row-major order; attrs {axes?: number[], scale = 1}
//   matmul(a, b) → c           c[M,N] = op(a)·op(b); attrs {transposeA, transposeB}
//   fill() → out               attrs {value}

export type BackendName = 'cpu' | 'cuda' | 'webgpu';
export const BACKEND_NAMES: readonly BackendName[] = ['cpu', 'cuda', 'webgpu'];

/** A backend's buffer of float32 values. Opaque outside the backend that made it. */
export interface Storage {
  readonly backend: BackendName;
  readonly numel: number;
}

export interface TensorRef {
  readonly storage: Storage;
  readonly shape: readonly number[];
}

export type KernelAttrs = Record<string, number | boolean | number[] | undefined>;

export interface BackendStatus {
  name: BackendName;
  available: boolean;
  device?: string;
  reason?: string;
}

export interface BackendMemory {
  buffers: number;
  bytes: number;
  cachedBytes?: number;
}

export interface Backend {
  readonly name: BackendName;
  status(): BackendStatus;
  hasKernel(kernel: string): boolean;
  /** New storage of numel elements, filled from data when given (data.length must equal numel). */
  alloc(numel: number, data?: Float32Array): Storage;
  free(storage: Storage): void;
  /** Overwrites storage with data, ordered after the work already queued. */
  write(storage: Storage, data: Float32Array): void;
  /** Resolves with a copy of storage once the queued work before it is done. */
  read(storage: Storage): Promise<Float32Array>;
  /** Resolves when all queued work is done; rejects with the first kernel error since the last sync. */
  sync(): Promise<void>;
  /** Validates and enqueues a kernel; returns at once. Throws TypeError/RangeError naming the kernel. */
  run(kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs?: KernelAttrs): void;
  memory(): BackendMemory;
}
