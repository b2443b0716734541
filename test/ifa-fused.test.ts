// ifaLoss with gradScale: the forward computes the gradients too (ifaLossWithGrad), and the backward
// hands them out when its upstream gradient is known on the host to equal gradScale. Checked
// against a JS reference in double, against the two-kernel path, by counting the kernels each path
// launches, for memory, and through combineLosses. On the CPU, and on WebGPU where it runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type BackendName,
  type IfaTerm,
  add,
  combineLosses,
  getBackend,
  ifaLoss,
  initBackend,
  memory,
  noGrad,
  scale,
  softmaxCrossEntropy,
  tensor,
  tidy,
} from '../src/index.js';
import { Rng } from '../src/core/random.js';
import { nativeAddon } from '../src/native.js';
import { assertClose, backendStatuses, collectGarbage, deviceBackends, skipNote } from './helpers.js';

const rng = new Rng(4242);
const randn = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Runs fn and counts the kernels it launches on a backend, by name. */
function countLaunches<T>(backend: BackendName, fn: () => T): { result: T; counts: Record<string, number> } {
  const b = getBackend(backend);
  const counts: Record<string, number> = {};
  const original = b.run;
  b.run = (kernel, inputs, outputs, attrs) => {
    counts[kernel] = (counts[kernel] ?? 0) + 1;
    original.call(b, kernel, inputs, outputs, attrs);
  };
  try {
    return { result: fn(), counts };
  } finally {
    b.run = original;
  }
}

/** The IFA loss and its gradients for an upstream gradient `up`, in double (each norm clamped at eps). */
function ifaReference(q: Float32Array, p: Float32Array, C: number, target: number, eps: number, up: number): { loss: number; dq: Float64Array; dp: Float64Array } {
  const M = q.length / C;
  const dq = new Float64Array(q.length);
  const dp = new Float64Array(q.length);
  let loss = 0;
  for (let i = 0; i < M; i++) {
    let w = 0;
    let qq = 0;
    let pp = 0;
    for (let k = 0; k < C; k++) {
      w += q[i * C + k] * p[i * C + k];
      qq += q[i * C + k] ** 2;
      pp += p[i * C + k] ** 2;
    }
    const nq = Math.sqrt(qq);
    const np = Math.sqrt(pp);
    const aq = Math.max(nq, eps);
    const ap = Math.max(np, eps);
    const cos = w / (aq * ap);
    loss += Math.abs(target - cos) / M;
    const s = (-Math.sign(target - cos) * up) / M;
    const bq = nq >= eps ? (s * cos) / (aq * aq) : 0;
    const bp = np >= eps ? (s * cos) / (ap * ap) : 0;
    for (let k = 0; k < C; k++) {
      dq[i * C + k] = (s / (aq * ap)) * p[i * C + k] - bq * q[i * C + k];
      dp[i * C + k] = (s / (aq * ap)) * q[i * C + k] - bp * p[i * C + k];
    }
  }
  return { loss, dq, dp };
}

interface Outcome {
  loss: Float32Array;
  dq: Float32Array;
  dp: Float32Array | null;
  counts: Record<string, number>;
}

/**
 * w·ifaLoss(q, p) backpropagated with backward()'s seed, so ifaLoss's upstream gradient is w (known
 * on the host); gradScale is what ifaLoss is told (undefined: not told).
 */
async function weightedIfa(backend: BackendName, qv: Float32Array, pv: Float32Array, shape: number[], pGrad: boolean, target: number, w: number, gradScale: number | undefined): Promise<Outcome> {
  const q = tensor(qv, shape, { backend, requiresGrad: true });
  const p = tensor(pv, shape, { backend, requiresGrad: pGrad });
  const { result: loss, counts } = countLaunches(backend, () =>
    tidy(() => {
      const l = ifaLoss(q, p, { target, gradScale });
      scale(l, w).backward();
      return l;
    }),
  );
  const out: Outcome = { loss: await loss.data(), dq: await q.grad!.data(), dp: p.grad ? await p.grad.data() : null, counts };
  for (const t of [q, p, loss]) {
    t.grad?.dispose();
    t.dispose();
  }
  return out;
}

const cases = [
  { label: 'C 7', shape: [2, 3, 3, 7], target: 1 },
  { label: 'C 70, target 0.3', shape: [1, 2, 3, 70], target: 0.3 },
  { label: 'C 132, target 0.5', shape: [2, 2, 2, 132], target: 0.5 },
  // CUDA: 1152 blocks of 8 pixels, whose partial sums the grid's last block adds up (lastBlockMean's
  // four-way loop and its remainder); three launches in a row check that its block count resets.
  { label: '9216 pixels of C 4', shape: [1, 96, 96, 4], target: 1 },
];

const statuses = await backendStatuses();
for (const backend of ['cpu', ...deviceBackends] as BackendName[]) {
  const status = statuses.find((s) => s.name === backend);
  if (!status?.available) {
    skipNote(`ifaLoss gradScale on ${backend}`, status?.reason ?? 'unknown backend');
    test.skip(`ifaLoss with gradScale on ${backend} (backend unavailable)`, () => {});
    continue;
  }
  await initBackend(backend);
  // WebGPU sums in float32 trees (CUDA: float lanes, then double): a looser bound against the double reference.
  const tol = backend === 'cpu' ? { atol: 1e-7, rtol: 1e-4 } : { atol: 1e-6, rtol: 1e-3 };

  for (const c of cases) {
    for (const pGrad of [false, true]) {
      const what = `${c.label}, ${pGrad ? 'p with grad (SimCLR)' : 'p without grad (MoCo)'}, on ${backend}`;
      test(`ifaLoss with gradScale: one kernel when the upstream gradient is the one announced, else the two-kernel path (${what})`, async () => {
        const qv = randn(prod(c.shape));
        const pv = randn(prod(c.shape));
        const C = c.shape[c.shape.length - 1];
        const w = 0.7;
        const ref = ifaReference(qv, pv, C, c.target, 1e-6, w);
        const fused = await weightedIfa(backend, qv, pv, c.shape, pGrad, c.target, w, w);
        const mismatched = await weightedIfa(backend, qv, pv, c.shape, pGrad, c.target, w, 0.5);
        const plain = await weightedIfa(backend, qv, pv, c.shape, pGrad, c.target, w, undefined);
        assert.is(fused.counts.ifaLossWithGrad, 1, 'fused: ifaLossWithGrad');
        assert.is(fused.counts.ifaLossBackward, undefined, 'fused: no ifaLossBackward');
        assert.is(fused.counts.ifaLoss, undefined, 'fused: no ifaLoss');
        assert.is(mismatched.counts.ifaLossWithGrad, 1, 'mismatched: ifaLossWithGrad');
        assert.is(mismatched.counts.ifaLossBackward, 1, 'mismatched: falls back to ifaLossBackward');
        assert.is(plain.counts.ifaLoss, 1, 'without gradScale: ifaLoss');
        assert.is(plain.counts.ifaLossBackward, 1, 'without gradScale: ifaLossBackward');
        assert.is(plain.counts.ifaLossWithGrad, undefined, 'without gradScale: no ifaLossWithGrad');
        // backward()'s seed of ones and scale's gradient of it are known on the host: no kernel
        // fills or scales them unless a gradient rule reads them (the two-kernel path does, once).
        assert.is(fused.counts.fill, undefined, 'fused: the seed is never filled on the device');
        assert.is(fused.counts.broadcastTo, 1, "fused: scale's forward only");
        assert.is(plain.counts.fill, 1, 'without gradScale: the upstream gradient w filled once');
        assert.is(plain.counts.broadcastTo, 1, "without gradScale: scale's forward only");
        for (const [name, o] of [['fused', fused], ['mismatched', mismatched], ['plain', plain]] as const) {
          assertClose(o.loss, [ref.loss], { atol: 1e-6, rtol: 1e-5 }, `${name} loss`);
          assertClose(o.dq, ref.dq, tol, `${name} dq`);
          if (pGrad) assertClose(o.dp!, ref.dp, tol, `${name} dp`);
          else assert.is(o.dp, null, `${name}: p gets no gradient`);
        }
        // The fallback runs the same kernel as the plain path, on the same inputs.
        assert.equal([...mismatched.dq], [...plain.dq], 'mismatched dq = plain dq');
      });
    }
  }

  test(`ifaLoss with gradScale: precomputed gradients are freed with their tidy() when backward never runs, or runs the fallback (${backend})`, async () => {
    const shape = [2, 2, 2, 9];
    const q = tensor(randn(prod(shape)), shape, { backend, requiresGrad: true });
    const p = tensor(randn(prod(shape)), shape, { backend, requiresGrad: true });
    const b = getBackend(backend);
    // Storage is freed once the queued kernels that use it have run: sync before each count.
    await collectGarbage();
    await b.sync();
    const start = b.memory().buffers;
    // Live + leaked: a tensor an earlier test leaked moves from one to the other when it is collected.
    const startTensors = memory().tensors + memory().leaked;
    tidy(() => {
      ifaLoss(q, p, { gradScale: 1 });
    });
    await b.sync();
    assert.is(b.memory().buffers, start, 'forward only');
    tidy(() => scale(ifaLoss(q, p, { gradScale: 2 }), 3).backward());
    tidy(() => ifaLoss(q, p, { gradScale: 1 }).backward());
    for (const t of [q, p]) {
      t.grad!.dispose();
      t.grad = null;
    }
    await b.sync();
    assert.is(b.memory().buffers, start, 'fallback and fused backward');
    assert.is(memory().tensors + memory().leaked, startTensors, 'live tensors');
    // Unrecorded (noGrad): the plain forward kernel, nothing precomputed.
    const { counts } = countLaunches(backend, () => tidy(() => noGrad(() => ifaLoss(q, p, { gradScale: 1 }).dispose())));
    assert.equal(counts, { ifaLoss: 1 });
    await b.sync();
    assert.is(b.memory().buffers, start, 'noGrad');
    q.dispose();
    p.dispose();
  });
}

test('ifaLoss: gradScale must be a finite number', () => {
  const q = tensor([1, 2], [1, 2], { requiresGrad: true });
  assert.throws(() => ifaLoss(q, q, { gradScale: NaN }), /ifaLoss: gradScale must be a finite number, got NaN/);
  q.dispose();
});

test('ifaLossWithGrad (CPU) equals ifaLossWithGradReference, and ifaLoss + ifaLossBackward bit for bit', async () => {
  const addon = nativeAddon();
  for (const C of [1, 7, 70, 130, 1030]) {
    const shape = [2, 3, 2, C];
    const n = prod(shape);
    const qv = randn(n);
    const pv = randn(n);
    // Pixel 0: q = 0 (its norm clamped at eps, no gradient through the clamp); pixel 1: p tiny.
    qv.fill(0, 0, C);
    for (let k = C; k < 2 * C; k++) pv[k] *= 1e-9;
    for (const withDp of [false, true]) {
      const attrs = { target: 0.4, eps: 1e-6, gradScale: -1.5 };
      const Q = addon.alloc(n, qv);
      const P = addon.alloc(n, pv);
      const D = addon.alloc(1, new Float32Array([attrs.gradScale]));
      const outs = Array.from({ length: 3 }, () => [addon.alloc(1), addon.alloc(n), addon.alloc(n)]);
      const args = (o: number[]): [number, number[]][] => [[o[0], [1]], [o[1], shape], ...(withDp ? [[o[2], shape] as [number, number[]]] : [])];
      const ins: [number, number[]][] = [[Q, shape], [P, shape]];
      addon.run('ifaLossWithGrad', ins, args(outs[0]), attrs);
      addon.run('ifaLossWithGradReference', ins, args(outs[1]), attrs);
      addon.run('ifaLoss', ins, [[outs[2][0], [1]]], attrs);
      addon.run('ifaLossBackward', [[D, [1]], ...ins], args(outs[2]).slice(1), attrs);
      const [fast, ref, two] = await Promise.all(outs.map((o) => Promise.all(o.map((h) => addon.read(h)))));
      const what = `C ${C}${withDp ? ' with dp' : ''}`;
      assertClose(fast[0], ref[0], { atol: 1e-7, rtol: 1e-6 }, `${what}: loss vs reference`);
      // dq = α·p − βq·q cancels (exactly at C = 1): float rounding is relative to the largest entry.
      const normwise = (r: Float32Array) => ({ atol: 1e-5 * r.reduce((m, v) => Math.max(m, Math.abs(v)), 0), rtol: 1e-5 });
      assertClose(fast[1], ref[1], normwise(ref[1]), `${what}: dq vs reference`);
      if (withDp) assertClose(fast[2], ref[2], normwise(ref[2]), `${what}: dp vs reference`);
      assert.equal([...fast[0]], [...two[0]], `${what}: loss = ifaLoss`);
      assert.equal([...fast[1]], [...two[1]], `${what}: dq = ifaLossBackward`);
      if (withDp) assert.equal([...fast[2]], [...two[2]], `${what}: dp = ifaLossBackward`);
      for (const h of [Q, P, D, ...outs.flat()]) addon.free(h);
    }
  }
  assert.throws(() => addon.run('ifaLossWithGrad', [[addon.alloc(2), [1, 2]], [addon.alloc(2), [1, 2]]], [[addon.alloc(1), [1]]], { target: 1, eps: 1e-6 }), /ifaLossWithGrad: expects 2 or 3 outputs \(loss, dq\[, dp\]\), got 1/);
});

test('combineLosses: each IFA term computes its gradients in its forward pass, contrastive weight or not', async () => {
  const terms: IfaTerm[] = [
    { block: 3, target: 1, weight: 1 },
    { block: 1, target: 0.3, weight: 0.5 },
  ];
  const shapes = [[2, 2, 2, 12], [2, 4, 4, 7]];
  const logitsV = randn(4 * 5);
  const labels = new Float32Array([0, 3, 1, 4]);
  const qv = shapes.map((s) => randn(prod(s)));
  const pv = shapes.map((s) => randn(prod(s)));
  for (const pGrad of [false, true]) {
    const run = async (fused: boolean) => {
      const logits = tensor(logitsV, [4, 5], { requiresGrad: true });
      const y = tensor(labels, [4]);
      const qs = qv.map((v, i) => tensor(v, shapes[i], { requiresGrad: true }));
      const ps = pv.map((v, i) => tensor(v, shapes[i], { requiresGrad: pGrad }));
      const { counts } = countLaunches('cpu', () =>
        tidy(() => {
          const ce = softmaxCrossEntropy(logits, y);
          if (fused) {
            combineLosses(ce, qs, ps, terms, 2).total.backward();
          } else {
            // The same sum with no gradScale anywhere: the two-kernel path.
            let total = scale(ce, 2);
            terms.forEach((t, i) => {
              total = add(total, scale(ifaLoss(qs[i], ps[i], { target: t.target }), t.weight));
            });
            total.backward();
          }
        }),
      );
      const grads = await Promise.all([logits, ...qs, ...ps].map((t) => (t.grad ? t.grad.data() : null)));
      for (const t of [logits, y, ...qs, ...ps]) {
        t.grad?.dispose();
        t.dispose();
      }
      return { grads, counts };
    };
    const fused = await run(true);
    const plain = await run(false);
    assert.is(fused.counts.ifaLossWithGrad, 2, 'two fused IFA kernels');
    assert.is(fused.counts.ifaLossBackward, undefined, 'no IFA backward kernel');
    assert.is(plain.counts.ifaLossBackward, 2);
    fused.grads.forEach((g, i) => {
      const want = plain.grads[i];
      if (want === null) assert.is(g, null, `tensor ${i} gets no gradient`);
      else assertClose(g!, want, { atol: 1e-8, rtol: 1e-5 }, `gradient of tensor ${i} (p grad ${pGrad})`);
    });
  }
});

test.run();
