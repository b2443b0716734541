// Every op registers itself here with sample cases, so the conformance suite can run each op,
// forward and backward, on every backend and in every dtype the backend offers against the CPU
// reference, and check CPU gradients against finite differences. Adding an op = one file in src/ops/
// with its registerOp call.
import type { DType } from '../core/dtype.js';
import type { Tensor } from '../core/tensor.js';

/**
 * The unit roundoff u of a dtype: the largest relative error of one rounding to nearest, 2^-p for p
 * significant bits (float32 24, float16 11, bfloat16 8).
 */
export const UNIT_ROUNDOFF: Readonly<Record<DType, number>> = Object.freeze({ float32: 2 ** -24, float16: 2 ** -11, bfloat16: 2 ** -8 });

/**
 * How far a half-dtype result may be from its reference, in units of the dtype's u: |x − ref| ≤
 * k·u·(1 + |ref|) (inputs are O(1), so an absolute and a relative part alike), with k for the
 * output and for the input gradients, and the reason for those k. It bounds both checks of a half
 * case: the CPU half reference against the CPU float32 result on the same rounded inputs (the
 * roundings of the outputs and intermediates), and another backend's half result against the CPU
 * half reference (a result that lands on the other side of a rounding boundary is 2u away, and
 * moves what is computed from it).
 */
export interface HalfTolerance {
  output: number;
  gradient: number;
  why: string;
}

export interface OpCase {
  label: string;
  shapes: number[][];
  attrs?: Record<string, unknown>;
}

export interface OpSpec {
  name: string;
  /** Kernels the op needs; a backend missing one is skipped for this op with that reason. */
  kernels: string[];
  cases: OpCase[];
  run(inputs: Tensor[], attrs: Record<string, unknown>): Tensor;
  /** Tolerance of a backend against the CPU reference in float32: |x − ref| ≤ atol + rtol·|ref|. */
  tolerance: { atol: number; rtol: number };
  /**
   * Tolerance of the half dtypes (bfloat16, float16); an op without one runs in float32 only (the
   * conformance suite fails an op whose kernels take half dtypes on the CPU but states none).
   */
  halfTolerance?: HalfTolerance;
  /**
   * Indices of the inputs that take the case's dtype in a half case (default all); the others stay
   * float32, as batch norm's gamma and beta.
   */
  dtypeInputs?: number[];
  /** Why the CPU gradients are not checked against finite differences (default: they are). */
  noFiniteDifferences?: string;
  /** Inputs are drawn from N(0,1); ops with kinks (relu) push them at least this far from 0. */
  awayFromZero?: number;
  /** Indices of inputs that are not differentiable (labels); default all are. */
  noGradInputs?: number[];
  /**
   * Backpropagate from the (scalar) output with backward()'s own seed of 1 instead of Σ out·R, so
   * gradient rules that use a host-known upstream gradient (Tensor.knownValue) take that path.
   */
  seedBackward?: boolean;
}

const specs = new Map<string, OpSpec>();

/** Registers an op's spec; a second registration of the same name throws (as tfjs's registerKernel). */
export function registerOp(spec: OpSpec): void {
  if (specs.has(spec.name)) throw new Error(`registerOp: op ${JSON.stringify(spec.name)} is already registered`);
  specs.set(spec.name, spec);
}

export function registeredOps(): OpSpec[] {
  return [...specs.values()];
}
