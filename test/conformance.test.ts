// The conformance suite: every registered op, forward and backward, on every backend against the CPU
// reference, with each op's stated tolerance; and the CPU gradients against central finite
// differences. Backends that are unavailable, or lack an op's kernel, are reported as skipped with
// the reason and never counted as passed. IFA_TEST_BACKENDS=cuda (a comma list of backends)
// runs only those backends' suites, and the CPU-vs-finite-differences suite only when it names cpu
// (bench/gpu/check.sh runs the CUDA suite alone, also under compute-sanitizer); unset runs them all.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type BackendName,
  type BackendStatus,
  type OpSpec,
  type Tensor,
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
import { BACKEND_NAMES } from '../src/backends/backend.js';
import { Rng } from '../src/core/random.js';
import { assertClose, backendStatuses, skipNote } from './helpers.js';

const ops = registeredOps();
const listed = (process.env.IFA_TEST_BACKENDS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const only = listed.length ? listed : undefined;
const unknown = only?.filter((n) => !(BACKEND_NAMES as readonly string[]).includes(n)) ?? [];
if (unknown.length) throw new Error(`IFA_TEST_BACKENDS names unknown backends: ${unknown.join(', ')} (known: ${BACKEND_NAMES.join(', ')})`);
const selected = (name: BackendName): boolean => !only || only.includes(name);
// With a selection, only the selected backends are started (no WebGPU adapter request for a CUDA run).
const statuses = only ? await selectedStatuses() : await backendStatuses();

async function selectedStatuses(): Promise<BackendStatus[]> {
  const out: BackendStatus[] = [];
  for (const name of BACKEND_NAMES.filter(selected)) {
    try {
      out.push((await initBackend(name)).status());
    } catch (e) {
      out.push({ name, available: false, reason: (e as Error).message });
    }
  }
  return out;
}

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

interface Result {
  out: Float32Array;
  outShape: readonly number[];
  grads: (Float32Array | null)[];
}

/**
 * R, the fixed random weight of the output in Σ out·R; ones for an op that backpropagates from its
 * output with backward()'s seed (spec.seedBackward; the output is a scalar).
 */
function outputWeight(spec: OpSpec, shape: readonly number[], seed: number, backend: BackendName): Tensor {
  return spec.seedBackward ? tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape, { backend }) : randomNormal(shape, { seed: seed + 7, backend });
}

/** Forward, then backward of Σ out·R (R a fixed random weight, or the seed), on one backend. */
async function runCase(spec: OpSpec, backend: BackendName, values: Float32Array[], shapes: number[][], attrs: Record<string, unknown>, seed: number): Promise<Result> {
  const noGradSet = new Set(spec.noGradInputs ?? []);
  const inputs = values.map((v, i) => tensor(v, shapes[i], { backend, requiresGrad: !noGradSet.has(i) }));
  // In tidy(): the op's intermediates, R and the loss go when it returns (the gradients are kept).
  const out = tidy(() => {
    const y = spec.run(inputs, attrs);
    const r = outputWeight(spec, y.shape, seed, backend);
    (spec.seedBackward ? y : sum(mul(y, r))).backward();
    return y;
  });
  const result: Result = {
    out: await out.data(),
    outShape: out.shape,
    grads: await Promise.all(inputs.map((t) => (t.grad ? t.grad.data() : null))),
  };
  for (const t of [...inputs, out]) {
    t.grad?.dispose();
    t.dispose();
  }
  return result;
}

const reference = suite('conformance: cpu reference vs finite differences');
for (const spec of selected('cpu') ? ops : []) {
  for (const [ci, c] of spec.cases.entries()) {
    reference(`${spec.name} (${c.label}): gradients match central differences`, async () => {
      const seed = 1000 + ci;
      const values = inputsFor(spec, c.shapes, seed);
      const res = await runCase(spec, 'cpu', values, c.shapes, c.attrs ?? {}, seed);
      const r = outputWeight(spec, res.outShape, seed, 'cpu');
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

for (const status of statuses) {
  if (status.name === 'cpu' || !selected(status.name)) continue;
  const s = suite(`conformance: ${status.name} vs cpu`);
  if (!status.available) {
    skipNote(`${status.name} conformance`, status.reason ?? 'unavailable');
    s.skip(`${status.name}: every op (backend unavailable: ${status.reason})`, () => {});
    s.run();
    continue;
  }
  await initBackend(status.name);
  const backend = getBackend(status.name);
  for (const spec of ops) {
    const missing = spec.kernels.filter((k) => !backend.hasKernel(k));
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
    }
  }
  s.run();
}
