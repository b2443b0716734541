// The contract every backend implements: storage, transfers and kernels by name. Shapes travel with
// each kernel call (storage is a flat array of one dtype), so reshapes are free.
//
// The kernels, their tensor slots, dtype roles and attributes are in the kernel table,
// src/backends/kernels.ts: every backend implements kernels by those names, and the addon's one
// validator per kernel checks a call on every backend.

import type { DType } from '../core/dtype.js';

/** Every backend, in the order backends() reports them; src/backends/registry.ts has a row for each. */
export const BACKEND_NAMES = ['cpu', 'cuda', 'webgpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** A backend's buffer of numel values of one dtype. Opaque outside the backend that made it. */
export interface Storage {
  readonly backend: BackendName;
  readonly numel: number;
  readonly dtype: DType;
}

export interface TensorRef {
  readonly storage: Storage;
  readonly shape: readonly number[];
}

export type KernelAttrs = Record<string, number | boolean | number[] | undefined>;

/**
 * One kernel's (or stream task's) execution on the device, in trace time (µs on the clock of
 * src/core/trace.ts's nowUs): id is what run() returned (0 for transfers, named by `name`).
 */
export interface DeviceSpan {
  id: number;
  name: string;
  beginUs: number;
  endUs: number;
}

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
  /** Live bytes by dtype, numel · element size as allocated (a cuda `bytes` counts whole blocks). */
  dtypeBytes?: Record<DType, number>;
}

export interface Backend {
  readonly name: BackendName;
  status(): BackendStatus;
  hasKernel(kernel: string): boolean;
  /** The dtypes a kernel's T slots take on this backend (empty when the kernel is missing). */
  kernelDtypes(kernel: string): readonly DType[];
  /**
   * New storage of numel elements of dtype (default float32), filled from data when given
   * (data.length must equal numel; values are rounded to the dtype, to nearest even).
   */
  alloc(numel: number, data?: Float32Array, dtype?: DType): Storage;
  free(storage: Storage): void;
  /** Overwrites storage with data (rounded to its dtype), ordered after the work already queued. */
  write(storage: Storage, data: Float32Array): void;
  /** Resolves with a copy of storage as float32 (exact) once the queued work before it is done. */
  read(storage: Storage): Promise<Float32Array>;
  /** Resolves when all queued work is done; rejects with the first kernel error since the last sync. */
  sync(): Promise<void>;
  /**
   * Validates and enqueues a kernel; returns at once. Throws TypeError/RangeError naming the kernel.
   * While kernel timing is on (setKernelTiming), returns the id its DeviceSpan will carry.
   */
  run(kernel: string, inputs: TensorRef[], outputs: TensorRef[], attrs?: KernelAttrs): number | void;
  /**
   * Kernel timing for traces and the profiler (src/core/trace.ts): on clears what was recorded.
   * Absent: the backend cannot time its kernels.
   */
  setKernelTiming?(on: boolean): void;
  /** The spans of timed kernels that completed since the last call (after sync(): all of them). */
  takeKernelSpans?(): DeviceSpan[];
  memory(): BackendMemory;
}
