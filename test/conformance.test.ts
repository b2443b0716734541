// The conformance suite: every registered op, forward and backward, on every backend and in every
// dtype the backend offers for it (its kernels' kernelDtypes) against the CPU reference, with each
// op's stated tolerance; and the CPU gradients against central finite differences. A half-dtype case
// (bfloat16, float16) runs on inputs rounded to the dtype (those the op takes in it: OpSpec.dtypeInputs)
// and is checked twice: the CPU half reference against the CPU float32 result on the same rounded
// inputs (so the reference itself is checked), and every other backend against the CPU half
// reference, each within the op's halfTolerance. Backends that are unavailable, or lack an op's
// kernel or dtype, are reported as skipped with the reason and never counted as passed.
// IFA_TEST_BACKENDS=cuda (a comma list of backends) runs only those backends' suites, and the CPU
// suites (finite differences, half reference) only when it names cpu (bench/gpu/check.sh runs the
// CUDA suite alone, also under compute-sanitizer); unset runs them all.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Backend,
  type BackendName,
  type DType,
  type OpSpec,
  type Tensor,
  cast,
  getBackend,
  initBackend,
  mul,
  noGrad,
  randomNormal,
  registeredOps,
  sum,
  tensor,
  tidy,
} from '../src/index.js';
import { Rng } from '../src/core/random.js';
import { UNIT_ROUNDOFF, registerOp } from '../src/ops/registry.js';
import { assertClose, backendSelected, backendStatuses, skipNote } from './helpers.js';

const ops = registeredOps();
// With IFA_TEST_BACKENDS set, only the selected backends are started (no WebGPU adapter request for a CUDA run).
const statuses = await backendStatuses();

const HALF: DType[] = ['bfloat16', 'float16'];
/** Kernels the harness runs in a case's dtype besides the op's: Σ out·R, its seed and gradient. */
const HARNESS_KERNELS = ['mul', 'reduceSum', 'broadcastTo', 'fill'];

function inputsFor(spec: OpSpec, shapes: number[][], seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return shapes.map((s) => {
    const v = new Float32Array(s.reduce((a, b) => a * b, 1));
    for (let i = 0; i < v.length; i++) {
      let x = rng.normal();
      const away = spec.awayFromZero ?? 0;
      if (Math.abs(x) < away) x = x < 0 ? x - away : x + away;
      v[i] = x;
    }
    return v;
  });
}

/** Whether input i of a half case takes the case's dtype (else it stays float32). */
function takesDtype(spec: OpSpec, i: number): boolean {
  return !spec.dtypeInputs || spec.dtypeInputs.includes(i);
}

/** The inputs a half case runs on: those the op takes in `dtype` rounded to it (by the CPU addon). */
async function roundedInputs(spec: OpSpec, values: Float32Array[], shapes: number[][], dtype: DType): Promise<Float32Array[]> {
  return Promise.all(
    values.map(async (v, i) => {
      if (!takesDtype(spec, i) || dtype === 'float32') return v;
      const t = tensor(v, shapes[i], { backend: 'cpu', dtype });
      const r = await t.data();
      t.dispose();
      return r;
    }),
  );
}

/** The half dtypes a backend offers for an op (every kernel it and the harness need), and what lacks each. */
function halfDtypesOn(backend: Backend, spec: OpSpec): { offered: DType[]; lacking: Map<DType, string[]> } {
  const offered: DType[] = [];
  const lacking = new Map<DType, string[]>();
  for (const d of HALF) {
    const missing = [...spec.kernels, ...HARNESS_KERNELS].filter((k) => !backend.kernelDtypes(k).includes(d));
    if (missing.length) lacking.set(d, missing);
    else offered.push(d);
  }
  return { offered, lacking };
}

interface Result {
  out: Float32Array;
  outShape: readonly number[];
  outDtype: DType;
  grads: (Float32Array | null)[];
  gradDtypes: (DType | null)[];
}

/**
 * R, the fixed random weight of the output in Σ out·R, with values rounded to `valueDtype` (the case's
 * dtype, so the float32 and the half run of a case weigh by the same values) and stored in the
 * output's dtype; ones for an op that backpropagates from its output with backward()'s seed
 * (spec.seedBackward; the output is a scalar).
 */
function outputWeight(spec: OpSpec, y: { shape: readonly number[]; dtype: DType }, seed: number, backend: BackendName, valueDtype: DType): Tensor {
  const n = y.shape.reduce((a, b) => a * b, 1);
  if (spec.seedBackward) return tensor(new Float32Array(n).fill(1), y.shape, { backend, dtype: y.dtype });
  const r = randomNormal(y.shape, { seed: seed + 7, backend, dtype: valueDtype });
  return r.dtype === y.dtype ? r : cast(r, y.dtype);
}

/**
 * Forward, then backward of Σ out·R (R a fixed random weight, or the seed), on one backend, with the
 * inputs the op takes in a case's dtype stored in `dtype` and R's values rounded to `valueDtype`.
 */
async function runCase(
  spec: OpSpec,
  backend: BackendName,
  values: Float32Array[],
  shapes: number[][],
  attrs: Record<string, unknown>,
  seed: number,
  dtype: DType = 'float32',
  valueDtype: DType = dtype,
): Promise<Result> {
  const noGradSet = new Set(spec.noGradInputs ?? []);
  const inputs = values.map((v, i) =>
    tensor(v, shapes[i], { backend, dtype: takesDtype(spec, i) ? dtype : 'float32', requiresGrad: !noGradSet.has(i) }),
  );
  // In tidy(): the op's intermediates, R and the loss go when it returns (the gradients are kept).
  const out = tidy(() => {
    const y = spec.run(inputs, attrs);
    const r = outputWeight(spec, y, seed, backend, valueDtype);
    (spec.seedBackward ? y : sum(mul(y, r))).backward();
    return y;
  });
  const result: Result = {
    out: await out.data(),
    outShape: out.shape,
    outDtype: out.dtype,
    grads: await Promise.all(inputs.map((t) => (t.grad ? t.grad.data() : null))),
    gradDtypes: inputs.map((t) => t.grad?.dtype ?? null),
  };
  for (const t of [...inputs, out]) {
    t.grad?.dispose();
    t.dispose();
  }
  return result;
}

/** Asserts got within spec.halfTolerance of ref for `dtype`: |x − ref| ≤ k·u·(1 + |ref|). */
function assertHalfClose(spec: OpSpec, dtype: DType, got: Result, ref: Result, title: string): void {
  const tol = spec.halfTolerance!;
  const u = UNIT_ROUNDOFF[dtype];
  assert.equal(got.outShape, ref.outShape);
  assertClose(got.out, ref.out, { atol: tol.output * u, rtol: tol.output * u }, `${title}: output (${tol.output}u: ${tol.why})`);
  ref.grads.forEach((g, k) => {
    if (g) assertClose(got.grads[k]!, g, { atol: tol.gradient * u, rtol: tol.gradient * u }, `${title}: gradient of input ${k} (${tol.gradient}u: ${tol.why})`);
  });
}

const reference = suite('conformance: cpu reference vs finite differences');
if (backendSelected('cpu')) {
  reference('registerOp refuses a second registration of a name', () => {
    const spec = ops[0];
    assert.throws(() => registerOp({ ...spec }), (e: Error) => e.message === `registerOp: op ${JSON.stringify(spec.name)} is already registered`);
    assert.is(registeredOps().length, ops.length);
  });
}
for (const spec of backendSelected('cpu') ? ops : []) {
  for (const [ci, c] of spec.cases.entries()) {
    const title = `${spec.name} (${c.label}): gradients match central differences`;
    if (spec.noFiniteDifferences) {
      skipNote(title, spec.noFiniteDifferences);
      reference.skip(title, () => {});
      continue;
    }
    reference(title, async () => {
      const seed = 1000 + ci;
      const values = inputsFor(spec, c.shapes, seed);
      const res = await runCase(spec, 'cpu', values, c.shapes, c.attrs ?? {}, seed);
      const r = outputWeight(spec, { shape: res.outShape, dtype: res.outDtype }, seed, 'cpu', 'float32');
      const rv = await r.data();
      r.dispose();
      // f(x) = Σ op(x)·R, evaluated in float32; h = 1e-2 keeps rounding error near 1e-4 relative.
      const f = async (vals: Float32Array[]): Promise<number> => {
        const out = noGrad(() => tidy(() => spec.run(vals.map((v, i) => tensor(v, c.shapes[i])), c.attrs ?? {})));
        const o = await out.data();
        out.dispose();
        let s = 0;
        for (let i = 0; i < o.length; i++) s += o[i] * rv[i];
        return s;
      };
      const h = 1e-2;
      for (let k = 0; k < values.length; k++) {
        if (spec.noGradInputs?.includes(k)) continue;
        const analytic = res.grads[k];
        assert.ok(analytic, `${spec.name}: input ${k} got no gradient`);
        const numeric = new Float32Array(values[k].length);
        for (let i = 0; i < values[k].length; i++) {
          const plus = values.map((v) => v.slice());
          const minus = values.map((v) => v.slice());
          plus[k][i] += h;
          minus[k][i] -= h;
          numeric[i] = ((await f(plus)) - (await f(minus))) / (2 * h);
        }
        assertClose(analytic!, numeric, { atol: 2e-3, rtol: 1e-2 }, `${spec.name} (${c.label}) d/d input ${k}`);
      }
    });
  }
}
reference.run();

// The CPU half reference (fp32 math on the rounded inputs, rounded outputs) against the CPU float32
// result on the same rounded inputs.
const halfReference = suite('conformance: cpu half reference vs cpu float32');
if (backendSelected('cpu')) {
  const cpu = getBackend('cpu');
  halfReference('every op whose kernels take half dtypes on the cpu states its half tolerance', () => {
    const unstated = ops.filter((spec) => halfDtypesOn(cpu, spec).offered.length > 0 && !spec.halfTolerance).map((spec) => spec.name);
    assert.equal(unstated, [], `ops without a halfTolerance: ${unstated.join(', ')}`);
  });
  for (const spec of ops) {
    const { offered } = halfDtypesOn(cpu, spec);
    if (!spec.halfTolerance) continue;
    for (const dtype of offered) {
      for (const [ci, c] of spec.cases.entries()) {
        const title = `${spec.name} (${c.label}) in ${dtype} on cpu vs float32`;
        halfReference(title, async () => {
          const seed = 3000 + ci;
          const values = await roundedInputs(spec, inputsFor(spec, c.shapes, seed), c.shapes, dtype);
          const ref = await runCase(spec, 'cpu', values, c.shapes, c.attrs ?? {}, seed, 'float32', dtype);
          const got = await runCase(spec, 'cpu', values, c.shapes, c.attrs ?? {}, seed, dtype);
          assertHalfClose(spec, dtype, got, ref, title);
        });
      }
    }
  }
}
halfReference.run();

for (const status of statuses) {
  if (status.name === 'cpu' || !backendSelected(status.name)) continue;
  const s = suite(`conformance: ${status.name} vs cpu`);
  if (!status.available) {
    skipNote(`${status.name} conformance`, status.reason ?? 'unavailable');
    s.skip(`${status.name}: every op (backend unavailable: ${status.reason})`, () => {});
    s.run();
    continue;
  }
  await initBackend(status.name);
  const backend = getBackend(status.name);
  // A backend without any half kernel (WebGPU) gets one skip line, not one per case and dtype.
  const anyHalf = ops.some((spec) => halfDtypesOn(backend, spec).offered.length > 0);
  if (!anyHalf) {
    skipNote(`${status.name} half dtypes`, `the ${status.name} backend takes float32 only`);
    s.skip(`${status.name}: every op in bfloat16 and float16 (the backend takes float32 only)`, () => {});
  }
  for (const spec of ops) {
    const missing = spec.kernels.filter((k) => !backend.hasKernel(k));
    const { offered, lacking } = halfDtypesOn(backend, spec);
    for (const [ci, c] of spec.cases.entries()) {
      const title = `${spec.name} (${c.label}) forward+backward on ${status.name}`;
      if (missing.length) {
        skipNote(title, `kernels not implemented on ${status.name}: ${missing.join(', ')}`);
        s.skip(title, () => {});
        continue;
      }
      s(title, async () => {
        const seed = 2000 + ci;
        const values = inputsFor(spec, c.shapes, seed);
        const ref = await runCase(spec, 'cpu', values, c.shapes, c.attrs ?? {}, seed);
        const got = await runCase(spec, status.name, values, c.shapes, c.attrs ?? {}, seed);
        assert.equal(got.outShape, ref.outShape);
        assertClose(got.out, ref.out, spec.tolerance, `${title}: output`);
        ref.grads.forEach((g, k) => {
          if (g) assertClose(got.grads[k]!, g, { atol: spec.tolerance.atol * 10 + 1e-6, rtol: spec.tolerance.rtol * 10 + 1e-6 }, `${title}: gradient of input ${k}`);
        });
      });
      if (!spec.halfTolerance || !anyHalf) continue;
      for (const dtype of HALF) {
        const halfTitle = `${spec.name} (${c.label}) in ${dtype} on ${status.name}`;
        if (!offered.includes(dtype)) {
          skipNote(halfTitle, `${status.name} takes float32 only in ${lacking.get(dtype)!.join(', ')}`);
          s.skip(halfTitle, () => {});
          continue;
        }
        s(halfTitle, async () => {
          const seed = 3000 + ci;
          const values = await roundedInputs(spec, inputsFor(spec, c.shapes, seed), c.shapes, dtype);
          const ref = await runCase(spec, 'cpu', values, c.shapes, c.attrs ?? {}, seed, dtype);
          const got = await runCase(spec, status.name, values, c.shapes, c.attrs ?? {}, seed, dtype);
          assert.is(got.outDtype, ref.outDtype, `${halfTitle}: output dtype`);
          assert.equal(got.gradDtypes, ref.gradDtypes, `${halfTitle}: gradient dtypes`);
          assertHalfClose(spec, dtype, got, ref, halfTitle);
        });
      }
    }
  }
  s.run();
}
