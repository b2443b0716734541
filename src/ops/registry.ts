// Every op registers itself here with sample cases, so the conformance suite can run each op,
// forward and backward, on every backend against the CPU reference, and check CPU gradients against
// finite differences. Adding an op = one file in src/ops/ with its registerOp call.
import type { Tensor } from '../core/tensor.js';

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
  /** Tolerance of a backend against the CPU reference: |x − ref| ≤ atol + rtol·|ref|. */
  tolerance: { atol: number; rtol: number };
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

export function registerOp(spec: OpSpec): void {
  specs.set(spec.name, spec);
}

export function registeredOps(): OpSpec[] {
  return [...specs.values()];
}
