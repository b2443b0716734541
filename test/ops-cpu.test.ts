// The normalisation, pooling, loss, layout and optimizer ops on the CPU backend against closed forms
// and JS references: batch-norm statistics and running-stat updates, the fast batch-norm kernels
// against their double-precision references, SGD (PyTorch's formula) and EMA, IFA edge cases (q = p,
// zero and tiny vectors), softmax cross-entropy with bad labels, max-pool ties, layout copies; and
// malformed calls into these kernels, which must throw TypeError/RangeError, never crash.
import * as assert from 'uvu/assert';
import { getBackend, memory, noGrad, randomNormal, sum, mul, tensor, tidy, type Tensor } from '../src/index.js';
import { Rng } from '../src/core/random.js';
import { nativeAddon } from '../src/native.js';
import { batchNorm2d } from '../src/ops/batchnorm.js';
import { ifaLoss } from '../src/ops/ifa.js';
import { l2Normalize } from '../src/ops/l2normalize.js';
import { concat, slice } from '../src/ops/layout.js';
import { softmaxCrossEntropy } from '../src/ops/loss.js';
import { globalAvgPool, maxPool2d } from '../src/ops/pool.js';
import { scale } from '../src/ops/scale.js';
import { emaUpdate, sgdStep } from '../src/optim/kernels.js';
import { assertClose, cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

const addon = nativeAddon();
const rng = new Rng(4242);
const randn = (n: number, mean = 0, std = 1): Float32Array => Float32Array.from({ length: n }, () => mean + std * rng.normal());
const prod = (s: number[]): number => s.reduce((a, b) => a * b, 1);
const f32 = Math.fround;

function disposeAll(...ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) {
    t?.grad?.dispose();
    t?.dispose();
  }
}

/** Per-channel mean and biased variance of x[rows, C], in double. */
function channelStats(x: ArrayLike<number>, C: number): { mean: number[]; variance: number[] } {
  const rows = x.length / C;
  const mean = new Array(C).fill(0);
  const variance = new Array(C).fill(0);
  for (let i = 0; i < x.length; i++) mean[i % C] += x[i] / rows;
  for (let i = 0; i < x.length; i++) variance[i % C] += (x[i] - mean[i % C]) ** 2 / rows;
  return { mean, variance };
}

// ---- batch norm ----

test('batchNorm2d (training): each channel of the output has mean beta and std gamma', async () => {
  const shape = [3, 5, 7, 6];
  const C = 6;
  const x = tensor(randn(prod(shape), 3, 2.5), shape);
  const g = [0.5, 1, 2, 3, -1.5, 0.25];
  const b = [0, 1, -2, 0.5, 3, -0.75];
  const y = batchNorm2d(x, tensor(g, [C]), tensor(b, [C]));
  const { mean, variance } = channelStats(await y.data(), C);
  for (let c = 0; c < C; c++) {
    assert.ok(Math.abs(mean[c] - b[c]) < 1e-5, `channel ${c}: mean ${mean[c]} vs beta ${b[c]}`);
    assert.ok(Math.abs(Math.sqrt(variance[c]) - Math.abs(g[c])) < 1e-4 * Math.abs(g[c]), `channel ${c}: std ${Math.sqrt(variance[c])} vs |gamma| ${g[c]}`);
  }
  disposeAll(x, y);
});

test('batchNorm2d: running statistics after one update match PyTorch (momentum, unbiased variance)', async () => {
  for (const momentum of [0.1, 0.3]) {
    const shape = [2, 3, 5, 4];
    const C = 4;
    const xv = randn(prod(shape), -1, 3);
    const rm0 = [0.5, -1, 2, 0];
    const rv0 = [1, 2, 0.5, 4];
    const x = tensor(xv, shape);
    const runningMean = tensor(rm0, [C]);
    const runningVar = tensor(rv0, [C]);
    const y = noGrad(() => batchNorm2d(x, tensor([1, 1, 1, 1], [C]), tensor([0, 0, 0, 0], [C]), { runningMean, runningVar, momentum }));
    const { mean, variance } = channelStats(xv, C);
    const n = xv.length / C;
    const wantMean = rm0.map((r, c) => (1 - momentum) * r + momentum * mean[c]);
    const wantVar = rv0.map((r, c) => (1 - momentum) * r + (momentum * variance[c] * n) / (n - 1));
    assertClose(await runningMean.data(), wantMean, { atol: 1e-6, rtol: 1e-6 }, `running mean, momentum ${momentum}`);
    assertClose(await runningVar.data(), wantVar, { atol: 1e-6, rtol: 1e-5 }, `running var, momentum ${momentum}`);
    disposeAll(x, y, runningMean, runningVar);
  }
});

test('batchNorm2d (eval): the affine map of the running statistics, and its gradient', async () => {
  const shape = [2, 3, 3, 5];
  const C = 5;
  const xv = randn(prod(shape));
  const gv = randn(C);
  const bv = randn(C);
  const rm = [0.1, -0.2, 0.3, 0, 1];
  const rvar = [1, 0.5, 2, 0.25, 3];
  const eps = 1e-3;
  const up = randn(prod(shape));
  for (const relu of [false, true]) {
    const x = tensor(xv, shape, { requiresGrad: true });
    const gamma = tensor(gv, [C], { requiresGrad: true });
    const beta = tensor(bv, [C], { requiresGrad: true });
    const runningMean = tensor(rm, [C]);
    const runningVar = tensor(rvar, [C]);
    const y = batchNorm2d(x, gamma, beta, { training: false, runningMean, runningVar, eps, relu });
    tidy(() => y.backward(tensor(up, shape)));
    const wantY: number[] = [];
    const dx: number[] = [];
    const dg = new Array(C).fill(0);
    const db = new Array(C).fill(0);
    xv.forEach((v, i) => {
      const c = i % C;
      const is = 1 / Math.sqrt(rvar[c] + eps);
      const pre = (v - rm[c]) * is * gv[c] + bv[c];
      const pass = !relu || pre > 0;
      wantY.push(pass ? pre : 0);
      const g = pass ? up[i] : 0;
      dx.push(g * gv[c] * is);
      dg[c] += g * (v - rm[c]) * is;
      db[c] += g;
    });
    assertClose(await y.data(), wantY, { atol: 1e-5, rtol: 1e-5 }, `eval y, relu ${relu}`);
    assertClose(await x.grad!.data(), dx, { atol: 1e-5, rtol: 1e-5 }, `eval dx, relu ${relu}`);
    assertClose(await gamma.grad!.data(), dg, { atol: 1e-5, rtol: 1e-5 }, `eval dgamma, relu ${relu}`);
    assertClose(await beta.grad!.data(), db, { atol: 1e-5, rtol: 1e-5 }, `eval dbeta, relu ${relu}`);
    // Eval mode leaves the running statistics alone.
    assert.equal([...(await runningMean.data())], rm.map(f32));
    disposeAll(x, gamma, beta, runningMean, runningVar, y);
  }
});

test('batchNormTrain / batchNormBackward equal their double-precision references across blocking', async () => {
  // rows > one row block; C > one channel block (512) with a partial block; a large mean offset.
  const cases: { shape: number[]; mean: number; std: number }[] = [
    { shape: [4, 40, 40, 96], mean: 0, std: 1 },
    { shape: [2, 7, 7, 600], mean: -2, std: 3 },
    { shape: [3, 33, 31, 5], mean: 1000, std: 0.5 },
    { shape: [1, 1, 2, 3], mean: 0, std: 1 },
  ];
  for (const { shape, mean, std } of cases) {
    const C = shape[3];
    const n = prod(shape);
    const X = addon.alloc(n, randn(n, mean, std));
    const G = addon.alloc(C, randn(C, 1, 0.5));
    const B = addon.alloc(C, randn(C));
    const DY = addon.alloc(n, randn(n));
    for (const relu of [false, true]) {
      const fast = [addon.alloc(n), addon.alloc(C), addon.alloc(C)];
      const ref = [addon.alloc(n), addon.alloc(C), addon.alloc(C)];
      const arg = (h: number, s: number[]): [number, number[]] => [h, s];
      const ins = [arg(X, shape), arg(G, [C]), arg(B, [C])];
      addon.run('batchNormTrain', ins, [arg(fast[0], shape), arg(fast[1], [C]), arg(fast[2], [C])], { eps: 1e-5, relu });
      addon.run('batchNormTrainReference', ins, [arg(ref[0], shape), arg(ref[1], [C]), arg(ref[2], [C])], { eps: 1e-5, relu });
      const what = `${JSON.stringify(shape)} mean ${mean} relu ${relu}`;
      const [fy, fm, fs, ry, rmn, rs] = await Promise.all([...fast, ...ref].map((h) => addon.read(h)));
      assertClose(fm, rmn, { atol: 1e-6, rtol: 1e-6 }, `${what}: mean`);
      assertClose(fs, rs, { atol: 0, rtol: 1e-5 }, `${what}: invStd`);
      assertClose(fy, ry, { atol: 1e-5, rtol: 1e-5 }, `${what}: y`);
      // Backward from the same (reference) statistics.
      const bf = [addon.alloc(n), addon.alloc(C), addon.alloc(C)];
      const br = [addon.alloc(n), addon.alloc(C), addon.alloc(C)];
      const bins = [arg(DY, shape), arg(X, shape), arg(G, [C]), arg(B, [C]), arg(ref[1], [C]), arg(ref[2], [C])];
      addon.run('batchNormBackward', bins, [arg(bf[0], shape), arg(bf[1], [C]), arg(bf[2], [C])], { relu });
      addon.run('batchNormBackwardReference', bins, [arg(br[0], shape), arg(br[1], [C]), arg(br[2], [C])], { relu });
      const [dxF, dgF, dbF, dxR, dgR, dbR] = await Promise.all([...bf, ...br].map((h) => addon.read(h)));
      const rows = n / C;
      assertClose(dgF, dgR, { atol: 1e-6 * Math.sqrt(rows), rtol: 1e-5 }, `${what}: dgamma`);
      assertClose(dbF, dbR, { atol: 1e-6 * Math.sqrt(rows), rtol: 1e-5 }, `${what}: dbeta`);
      assertClose(dxF, dxR, { atol: 1e-5, rtol: 1e-4 }, `${what}: dx`);
      for (const h of [...fast, ...ref, ...bf, ...br]) addon.free(h);
    }
    for (const h of [X, G, B, DY]) addon.free(h);
  }
});

test('batchNorm2d: a training step inside tidy leaves no tensors behind; bad arguments are named', async () => {
  const x = randomNormal([2, 3, 3, 4], { requiresGrad: true });
  const gamma = tensor([1, 2, 3, 4], [4], { requiresGrad: true });
  const beta = tensor([0, 0, 0, 0], [4], { requiresGrad: true });
  const before = memory().tensors + memory().leaked;
  tidy(() => sum(batchNorm2d(x, gamma, beta, { relu: true })).backward());
  assert.is(memory().tensors + memory().leaked, before + 3, 'only the three gradients remain');
  for (const t of [x, gamma, beta]) {
    t.grad!.dispose();
    t.grad = null;
  }
  assert.throws(() => batchNorm2d(tensor([1, 2], [1, 2]), tensor([1, 1], [2]), tensor([0, 0], [2])), /batchNorm2d: expected more than 1 value per channel/);
  assert.throws(() => batchNorm2d(x, gamma, beta, { training: false }), /batchNorm2d: eval mode .* needs runningMean and runningVar/);
  assert.throws(() => batchNorm2d(x, tensor([1, 2], [2]), beta), /batchNorm2d: gamma shape \[2\] should be \[4\]/);
  assert.throws(() => batchNorm2d(x, gamma, beta, { momentum: 2 }), /batchNorm2d: momentum must be a number in \[0, 1\]/);
  disposeAll(x, gamma, beta);
});

// ---- optimizer kernels ----

/** torch.optim.SGD's step for one tensor, in float32 as its CPU kernels round. */
function sgdReference(p: Float32Array, g: Float32Array, buf: Float32Array, o: { lr: number; momentum: number; weightDecay: number; dampening: number; nesterov: boolean }, first: boolean): void {
  for (let i = 0; i < p.length; i++) {
    let d = o.weightDecay !== 0 ? f32(g[i] + f32(f32(o.weightDecay) * p[i])) : g[i];
    if (o.momentum !== 0) {
      buf[i] = first ? d : f32(f32(buf[i] * f32(o.momentum)) + f32(f32(1 - o.dampening) * d));
      d = o.nesterov ? f32(d + f32(f32(o.momentum) * buf[i])) : buf[i];
    }
    p[i] = f32(p[i] + f32(f32(-o.lr) * d));
  }
}

test('sgdStep: two steps match PyTorch SGD (weight decay, dampening, nesterov) over 40 tensors', async () => {
  const settings = [
    { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, dampening: 0, nesterov: false },
    { lr: 0.03, momentum: 0.9, weightDecay: 1e-4, dampening: 0, nesterov: true },
    { lr: 0.5, momentum: 0.8, weightDecay: 0, dampening: 0.3, nesterov: false },
  ];
  for (const o of settings) {
    const shapes = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? [3, 5] : i % 3 === 1 ? [7] : [2, 2, 3]));
    const pv = shapes.map((s) => randn(prod(s)));
    const params = shapes.map((s, i) => tensor(pv[i], s));
    const momenta = shapes.map((s) => tensor(new Float32Array(prod(s)), s));
    const bufs = shapes.map((s) => new Float32Array(prod(s)));
    const refP = pv.map((v) => v.slice());
    for (const step of [0, 1]) {
      const gv = shapes.map((s) => randn(prod(s)));
      const grads = shapes.map((s, i) => tensor(gv[i], s));
      sgdStep(params, grads, momenta, { ...o, firstStep: step === 0 });
      refP.forEach((p, i) => sgdReference(p, gv[i], bufs[i], o, step === 0));
      disposeAll(...grads);
    }
    for (let i = 0; i < shapes.length; i++) {
      assertClose(await params[i].data(), refP[i], { atol: 1e-6, rtol: 1e-6 }, `param ${i}, ${JSON.stringify(o)}`);
      assertClose(await momenta[i].data(), bufs[i], { atol: 1e-6, rtol: 1e-6 }, `momentum ${i}, ${JSON.stringify(o)}`);
    }
    disposeAll(...params, ...momenta);
  }
});

test('sgdStep: momentum 0 needs no buffers; bad options are rejected by name', async () => {
  const p = tensor([1, 2, 3], [3]);
  const g = tensor([0.5, -1, 2], [3]);
  sgdStep([p], [g], [], { lr: 0.1, momentum: 0, weightDecay: 0.01, firstStep: true });
  const want = [1, 2, 3].map((v, i) => f32(v + f32(-0.1 * f32([0.5, -1, 2][i] + f32(0.01 * v)))));
  assertClose(await p.data(), want, { atol: 1e-7, rtol: 1e-7 }, 'momentum 0');
  assert.throws(() => sgdStep([p], [g], [], { lr: 0.1, firstStep: false }), /sgdStep: momentum 0.9 needs one momentum buffer per parameter/);
  assert.throws(() => sgdStep([p], [g], [p], { lr: 0.1, nesterov: true, dampening: 0.1, firstStep: false }), /sgdStep: nesterov momentum requires/);
  assert.throws(() => sgdStep([p], [tensor([1], [1])], [], { lr: 0.1, momentum: 0, firstStep: false }), /sgdStep: params\[0\] \[3\] and grads\[0\] \[1\] differ/);
  assert.throws(() => sgdStep([p], [g], [], { momentum: 0, firstStep: false } as never), /sgdStep: lr must be a finite number/);
  disposeAll(p, g);
});

test('emaUpdate: target = m·target + (1 − m)·source over 70 tensors', async () => {
  const shapes = Array.from({ length: 70 }, (_, i) => [1 + (i % 5), 3]);
  const tv = shapes.map((s) => randn(prod(s)));
  const sv = shapes.map((s) => randn(prod(s)));
  const targets = shapes.map((s, i) => tensor(tv[i], s));
  const sources = shapes.map((s, i) => tensor(sv[i], s));
  emaUpdate(targets, sources, 0.999);
  for (let i = 0; i < shapes.length; i++) {
    const want = tv[i].map((t, j) => f32(f32(t * f32(0.999)) + f32(sv[i][j] * f32(1 - 0.999))));
    assertClose(await targets[i].data(), want, { atol: 1e-7, rtol: 1e-6 }, `target ${i}`);
    assert.equal([...(await sources[i].data())], [...sv[i]], 'sources are untouched');
  }
  assert.throws(() => emaUpdate(targets, sources, 1.5), /emaUpdate: m must be a number in \[0, 1\]/);
  disposeAll(...targets, ...sources);
});

// ---- IFA ----

test('ifaLoss of q = p is |target − 1|, with no gradient to q', async () => {
  const shape = [2, 3, 5, 33];
  const v = randn(prod(shape));
  for (const target of [1, 0.3]) {
    const q = tensor(v, shape, { requiresGrad: true });
    const p = tensor(v, shape);
    const loss = ifaLoss(q, p, { target });
    assert.equal(loss.shape, [1]);
    assertClose(await loss.data(), [Math.abs(target - 1)], { atol: 1e-6, rtol: 0 }, `target ${target}`);
    if (target !== 1) {
      tidy(() => loss.backward());
      assertClose(await q.grad!.data(), new Float32Array(v.length), { atol: 1e-6, rtol: 0 }, 'dq at q = p');
    }
    disposeAll(q, p, loss);
  }
});

test('ifaLoss: each norm clamped at eps on its own, as cosine_similarity in PyTorch 1.13', async () => {
  // Pixels (C = 2): zero q; tiny q with large p; tiny q and p; plain vectors.
  const qv = [0, 0, 1e-7, 0, 1e-7, 0, 3, 4];
  const pv = [1, 2, 100, 0, 1e-7, 0, 4, 3];
  const q = tensor(qv, [1, 2, 2, 2], { requiresGrad: true });
  const p = tensor(pv, [1, 2, 2, 2], { requiresGrad: true });
  const loss = ifaLoss(q, p, { target: 1, eps: 1e-6 });
  // torch 1.13: cos = 0, 0.1, 0.01, 24/25.
  const cos = [0, 0.1, 0.01, 24 / 25];
  const want = cos.reduce((s, c) => s + Math.abs(1 - c), 0) / 4;
  assertClose(await loss.data(), [want], { atol: 1e-6, rtol: 1e-6 }, 'loss');
  tidy(() => loss.backward());
  // Pixel 0: d cos/dq = p/(eps·‖p‖) (the clamp passes no gradient), dp = 0 since q = 0;
  // torch gives dq = [447213.6, 894427.2] for the cosine, so the loss (−1/4 per cosine) gives −1/4 of it.
  const dq = await q.grad!.data();
  const dp = await p.grad!.data();
  assertClose(dq.slice(0, 2), [-447213.6 / 4, -894427.2 / 4], { atol: 0, rtol: 1e-5 }, 'dq at q = 0');
  assertClose(dp.slice(0, 2), [0, 0], { atol: 0, rtol: 0 }, 'dp at q = 0');
  disposeAll(q, p, loss);
  assert.throws(() => ifaLoss(tensor([1, 2], [1, 2]), tensor([1, 2, 3], [1, 3])), /ifaLoss: q \[1,2\] and p \[1,3\] must have the same shape/);
});

test('ifaLoss gradient against a JS reference, with and without dp', async () => {
  const shape = [2, 4, 3, 130];
  const C = 130;
  const qv = randn(prod(shape));
  const pv = randn(prod(shape));
  const target = 0.5;
  const M = qv.length / C;
  const dqRef = new Float64Array(qv.length);
  const dpRef = new Float64Array(qv.length);
  let lossRef = 0;
  for (let i = 0; i < M; i++) {
    let w = 0;
    let qq = 0;
    let pp = 0;
    for (let k = 0; k < C; k++) {
      w += qv[i * C + k] * pv[i * C + k];
      qq += qv[i * C + k] ** 2;
      pp += pv[i * C + k] ** 2;
    }
    const nq = Math.sqrt(qq);
    const np = Math.sqrt(pp);
    const cos = w / (nq * np);
    lossRef += Math.abs(target - cos) / M;
    const s = -Math.sign(target - cos) / M;
    for (let k = 0; k < C; k++) {
      dqRef[i * C + k] = s * (pv[i * C + k] / (nq * np) - (cos * qv[i * C + k]) / qq);
      dpRef[i * C + k] = s * (qv[i * C + k] / (nq * np) - (cos * pv[i * C + k]) / pp);
    }
  }
  for (const pGrad of [false, true]) {
    const q = tensor(qv, shape, { requiresGrad: true });
    const p = tensor(pv, shape, { requiresGrad: pGrad });
    const loss = ifaLoss(q, p, { target });
    tidy(() => loss.backward());
    assertClose(await loss.data(), [lossRef], { atol: 1e-6, rtol: 1e-6 }, 'loss');
    assertClose(await q.grad!.data(), dqRef, { atol: 1e-8, rtol: 1e-4 }, `dq (p grad ${pGrad})`);
    if (pGrad) assertClose(await p.grad!.data(), dpRef, { atol: 1e-8, rtol: 1e-4 }, 'dp');
    else assert.is(p.grad, null);
    disposeAll(q, p, loss);
  }
});

// ---- softmax cross-entropy ----

test('softmaxCrossEntropy: loss and gradient match JS; bad labels give NaN for their row only', async () => {
  const N = 6;
  const K = 9;
  const xv = randn(N * K, 0, 4);
  const labels = [0, 8, 3, 3, 5, 1];
  const rowLoss = (r: number, label: number): number => {
    const row = Array.from(xv.slice(r * K, r * K + K));
    const m = Math.max(...row);
    const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
    return Math.log(s) + m - row[label];
  };
  const softmax = (r: number, j: number): number => {
    const row = Array.from(xv.slice(r * K, r * K + K));
    const m = Math.max(...row);
    return Math.exp(row[j] - m) / row.reduce((a, v) => a + Math.exp(v - m), 0);
  };
  const x = tensor(xv, [N, K], { requiresGrad: true });
  const y = tensor(labels, [N]);
  const loss = softmaxCrossEntropy(x, y);
  const want = labels.reduce((s, l, r) => s + rowLoss(r, l), 0) / N;
  assertClose(await loss.data(), [want], { atol: 1e-6, rtol: 1e-6 }, 'loss');
  tidy(() => loss.backward());
  const grad = Array.from({ length: N * K }, (_, i) => (softmax(Math.floor(i / K), i % K) - (labels[Math.floor(i / K)] === i % K ? 1 : 0)) / N);
  assertClose(await x.grad!.data(), grad, { atol: 1e-7, rtol: 1e-5 }, 'dlogits');
  disposeAll(x, loss);
  for (const bad of [-1, K, 2.5, NaN, 1e9]) {
    const xb = tensor(xv, [N, K], { requiresGrad: true });
    const yb = tensor([0, 1, bad, 3, 4, 5], [N]);
    const lb = softmaxCrossEntropy(xb, yb);
    assert.ok(Number.isNaN((await lb.data())[0]), `label ${bad}: loss is NaN`);
    tidy(() => lb.backward());
    const g = await xb.grad!.data();
    assert.ok(g.slice(2 * K, 3 * K).every(Number.isNaN), `label ${bad}: its row of the gradient is NaN`);
    assert.ok(g.slice(0, 2 * K).every(Number.isFinite) && g.slice(3 * K).every(Number.isFinite), `label ${bad}: other rows are finite`);
    disposeAll(xb, yb, lb);
  }
  disposeAll(y);
  // Masked (−∞) and far-below-max logits contribute exp = 0; a NaN logit makes its row NaN.
  const special = [0, -Infinity, -1000, 5, 2, -Infinity, 1, 0.5, 3, -90, 7, 1];
  const xs = tensor(special, [1, 12], { requiresGrad: true });
  const ls = softmaxCrossEntropy(xs, tensor([3], [1]));
  const finite = special.filter(Number.isFinite);
  const m = Math.max(...finite);
  const lse = Math.log(finite.reduce((a, v) => a + Math.exp(v - m), 0)) + m;
  assertClose(await ls.data(), [lse - 5], { atol: 1e-6, rtol: 1e-6 }, 'loss with masked logits');
  tidy(() => ls.backward());
  const gs = await xs.grad!.data();
  assertClose(gs, special.map((v, j) => Math.exp(v - lse) - (j === 3 ? 1 : 0)), { atol: 1e-7, rtol: 1e-5 }, 'dlogits with masked logits');
  assert.is(gs[1], 0);
  const ln = softmaxCrossEntropy(tensor([1, NaN, 2, 0, 1, 1, 1, 1, 1], [1, 9]), tensor([0], [1]));
  assert.ok(Number.isNaN((await ln.data())[0]), 'a NaN logit makes the loss NaN');
  disposeAll(xs, ls, ln);
});

test('softmaxCrossEntropy: a MoCo-sized row (65537 logits) matches a double-precision reference', async () => {
  const K = 65537;
  const xv = randn(2 * K, 0, 5);
  const x = tensor(xv, [2, K], { requiresGrad: true });
  const loss = softmaxCrossEntropy(x, tensor([0, 65536], [2]));
  let want = 0;
  const sums: number[] = [];
  const maxes: number[] = [];
  for (let r = 0; r < 2; r++) {
    let m = -Infinity;
    for (let j = 0; j < K; j++) m = Math.max(m, xv[r * K + j]);
    let s = 0;
    for (let j = 0; j < K; j++) s += Math.exp(xv[r * K + j] - m);
    sums.push(s);
    maxes.push(m);
    want += (Math.log(s) + m - xv[r * K + (r ? 65536 : 0)]) / 2;
  }
  assertClose(await loss.data(), [want], { atol: 1e-5, rtol: 1e-6 }, 'loss');
  tidy(() => loss.backward());
  const g = await x.grad!.data();
  const gw = Array.from(xv, (v, i) => {
    const r = i < K ? 0 : 1;
    return (Math.exp(v - maxes[r]) / sums[r] - ((r === 0 && i === 0) || (r === 1 && i === 2 * K - 1) ? 1 : 0)) / 2;
  });
  assertClose(g, gw, { atol: 1e-9, rtol: 2e-6 }, 'dlogits');
  disposeAll(x, loss);
});

// ---- pooling ----

function maxPoolReference(x: ArrayLike<number>, [N, H, W, C]: number[], k: [number, number], s: [number, number], p: [number, number], dy?: ArrayLike<number>): { y: number[]; dx: number[] } {
  const Ho = Math.floor((H + 2 * p[0] - k[0]) / s[0]) + 1;
  const Wo = Math.floor((W + 2 * p[1] - k[1]) / s[1]) + 1;
  const y: number[] = [];
  const dx = new Array(x.length).fill(0);
  for (let n = 0; n < N; n++)
    for (let oh = 0; oh < Ho; oh++)
      for (let ow = 0; ow < Wo; ow++)
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let arg = -1;
          for (let i = 0; i < k[0]; i++)
            for (let j = 0; j < k[1]; j++) {
              const h = oh * s[0] - p[0] + i;
              const w = ow * s[1] - p[1] + j;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const at = ((n * H + h) * W + w) * C + c;
              if (arg < 0 || x[at] > best) {
                best = x[at];
                arg = at;
              }
            }
          if (dy) dx[arg] += dy[y.length];
          y.push(best);
        }
  return { y, dx };
}

test('maxPool2d: ties go to the first maximum; forward and backward match a JS reference', async () => {
  // Values from {0, 1, 2} force many ties.
  const geoms: { shape: number[]; k: [number, number]; s: [number, number]; p: [number, number] }[] = [
    { shape: [2, 7, 9, 5], k: [3, 3], s: [2, 2], p: [1, 1] },
    { shape: [1, 8, 8, 70], k: [3, 3], s: [2, 2], p: [1, 1] },
    { shape: [1, 5, 6, 3], k: [2, 3], s: [1, 2], p: [0, 1] },
  ];
  for (const { shape, k, s, p } of geoms) {
    const xv = Float32Array.from({ length: prod(shape) }, () => Math.floor(rng.uniform() * 3));
    const x = tensor(xv, shape, { requiresGrad: true });
    const y = maxPool2d(x, { kernel: k, stride: s, padding: p });
    const up = randn(y.size);
    const ref = maxPoolReference(xv, shape, k, s, p, up);
    assert.equal([...(await y.data())], ref.y, `y ${JSON.stringify(shape)}`);
    tidy(() => y.backward(tensor(up, y.shape)));
    assertClose(await x.grad!.data(), ref.dx, { atol: 1e-6, rtol: 0 }, `dx ${JSON.stringify(shape)}`);
    disposeAll(x, y);
  }
  // An all-equal window sends its whole gradient to its top-left element.
  const x = tensor(new Float32Array(9).fill(1), [1, 3, 3, 1], { requiresGrad: true });
  const y = maxPool2d(x, { kernel: 3, stride: 1, padding: 0 });
  tidy(() => y.backward(tensor([5], [1, 1, 1, 1])));
  assert.equal([...(await x.grad!.data())], [5, 0, 0, 0, 0, 0, 0, 0, 0]);
  disposeAll(x, y);
  assert.throws(() => maxPool2d(tensor(new Float32Array(16), [1, 4, 4, 1]), { kernel: 2, padding: 2 }), /maxPool2d: padding \[2,2\] must be at most half the kernel/);
});

test('globalAvgPool: [N,H,W,C] → [N,C] means; scale multiplies', async () => {
  const shape = [2, 3, 5, 4];
  const xv = randn(prod(shape));
  const x = tensor(xv, shape);
  const y = globalAvgPool(x);
  assert.equal(y.shape, [2, 4]);
  const want = new Array(8).fill(0);
  xv.forEach((v, i) => (want[Math.floor(i / 60) * 4 + (i % 4)] += v / 15));
  assertClose(await y.data(), want, { atol: 1e-6, rtol: 1e-6 }, 'means');
  const z = scale(x, -0.5);
  assertClose(await z.data(), Array.from(xv, (v) => v * -0.5), { atol: 0, rtol: 1e-7 }, 'scale');
  disposeAll(x, y, z);
});

// ---- l2 normalise, layout ----

test('l2Normalize: rows of unit norm; a zero row stays zero with gradient dy/eps', async () => {
  const xv = [3, 4, 0, 0, 0, 0, 1, 2, 2];
  const x = tensor(xv, [3, 3], { requiresGrad: true });
  const y = l2Normalize(x, { eps: 1e-3 });
  assertClose(await y.data(), [0.6, 0.8, 0, 0, 0, 0, 1 / 3, 2 / 3, 2 / 3], { atol: 1e-7, rtol: 1e-6 }, 'y');
  const up = [1, 0, 0, 1, 2, 3, 0, 0, 1];
  tidy(() => y.backward(tensor(up, [3, 3])));
  // Row 0: (dy − y⟨y,dy⟩)/‖x‖ = ([1,0,0] − 0.6·[0.6,0.8,0])/5.
  const want = [(1 - 0.36) / 5, -0.48 / 5, 0, 1e3, 2e3, 3e3, -(2 / 3) * (1 / 3) / 3, -(2 / 3) * (2 / 3) / 3, (1 - (2 / 3) * (2 / 3)) / 3];
  assertClose(await x.grad!.data(), want, { atol: 1e-6, rtol: 1e-5 }, 'dx');
  disposeAll(x, y);
});

test('concat and slice: copies along any axis; gradients are slices and zero-padded copies', async () => {
  const a = tensor(randn(2 * 3 * 4), [2, 3, 4], { requiresGrad: true });
  const b = tensor(randn(2 * 1 * 4), [2, 1, 4], { requiresGrad: true });
  const y = concat([a, b], 1);
  assert.equal(y.shape, [2, 4, 4]);
  const av = await a.data();
  const bv = await b.data();
  const want: number[] = [];
  for (let n = 0; n < 2; n++) want.push(...av.slice(n * 12, n * 12 + 12), ...bv.slice(n * 4, n * 4 + 4));
  assert.equal([...(await y.data())], want);
  const s = slice(y, -2, 1, 3);
  assert.equal(s.shape, [2, 2, 4]);
  assert.equal([...(await s.data())], [...want.slice(4, 12), ...want.slice(20, 28)]);
  tidy(() => sum(mul(s, s)).backward());
  // d/da of Σ s² is 2·a inside the slice (rows 1, 2 of a's axis 1), 0 elsewhere; b is outside.
  const ga = await a.grad!.data();
  const wantA = Array.from(av, (v, i) => (Math.floor(i / 4) % 3 >= 1 ? 2 * v : 0));
  assertClose(ga, wantA, { atol: 1e-6, rtol: 1e-6 }, 'da');
  assert.equal([...(await b.grad!.data())], [0, 0, 0, 0, 0, 0, 0, 0]);
  disposeAll(a, b, y, s);
  // More tensors than one kernel call takes.
  const many = Array.from({ length: 70 }, (_, i) => tensor([i, -i], [1, 2]));
  const big = concat(many, 0);
  assert.equal(big.shape, [70, 2]);
  assert.equal([...(await big.data())], Array.from({ length: 140 }, (_, i) => (i % 2 ? -(i >> 1) : i >> 1)));
  disposeAll(...many, big);
  const x = tensor([1, 2, 3], [3]);
  assert.throws(() => slice(x, 0, 2, 1), /slice: \[2, 1\) is not a range of axis 0/);
  assert.throws(() => concat([x, tensor([1], [1, 1])], 0), /concat: tensors\[1\] shape \[1,1\] does not match/);
  disposeAll(x);
});

// ---- the kernels' boundaries ----

test('malformed calls into these kernels throw TypeError/RangeError naming the kernel', async () => {
  const kernels = [
    'batchNormTrain', 'batchNormEval', 'batchNormBackward', 'batchNormEvalBackward', 'batchNormUpdateStats',
    'batchNormTrainReference', 'batchNormBackwardReference', 'maxPool2d', 'maxPool2dBackward', 'l2Normalize',
    'l2NormalizeBackward', 'concat', 'slice', 'sliceBackward', 'softmaxCrossEntropy', 'softmaxCrossEntropyBackward',
    'ifaLoss', 'ifaLossBackward', 'ifaLossWithGrad', 'ifaLossWithGradReference', 'sgd', 'ema',
  ];
  const fuzz = new Rng(99);
  const pick = <T>(xs: T[]): T => xs[Math.floor(fuzz.uniform() * xs.length)];
  const shapes = [[], [0], [1], [3], [4], [1, 1], [2, 3], [3, 2], [6], [2, 2, 3], [1, 2, 2, 3], [2, 3, 3, 2], [1, 1, 1, 1], [2, 0, 2, 3], [1, 3, 1, 4], [4, 3]];
  const numbers = [undefined, NaN, -1, 0, 0.5, 1, 2, 3, 1e9, -1e9, Infinity];
  const handles: number[] = [];
  const tensorArg = (): [number, number[]] => {
    const s = pick(shapes);
    const h = addon.alloc(prod(s), randn(prod(s)));
    handles.push(h);
    return [h, s];
  };
  let threw = 0;
  for (let i = 0; i < 3000; i++) {
    const kernel = pick(kernels);
    const ins = Array.from({ length: Math.floor(fuzz.uniform() * 7) }, tensorArg);
    const outs = Array.from({ length: Math.floor(fuzz.uniform() * 5) }, tensorArg);
    const attrs: Record<string, unknown> = {};
    for (const key of ['eps', 'relu', 'momentum', 'count', 'kernelH', 'kernelW', 'strideH', 'strideW', 'padH', 'padW', 'axis', 'start', 'target', 'gradScale', 'lr', 'm', 'nesterov', 'firstStep', 'weightDecay', 'dampening']) {
      if (fuzz.uniform() < 0.5) attrs[key] = pick(numbers);
    }
    try {
      addon.run(kernel, ins, outs, attrs);
    } catch (e) {
      threw++;
      assert.ok(e instanceof TypeError || e instanceof RangeError, `${kernel}: threw ${(e as Error).constructor.name}: ${(e as Error).message}`);
      assert.match((e as Error).message, new RegExp(`ifa_native\\.run(\\(${kernel}\\))?: `), (e as Error).message);
    }
    if (handles.length > 200) {
      await addon.sync();
      for (const h of handles.splice(0)) addon.free(h);
    }
  }
  await addon.sync();
  for (const h of handles.splice(0)) addon.free(h);
  assert.ok(threw > 1500, `only ${threw} of 3000 calls were rejected`);
  // The messages name the kernel and the shapes.
  const [X, Y, G, M, S] = [24, 24, 3, 4, 4].map((n) => addon.alloc(n));
  assert.throws(() => addon.run('batchNormTrain', [[X, [2, 3, 4]], [G, [3]], [G, [3]]], [[Y, [2, 3, 4]], [M, [4]], [S, [4]]]), /batchNormTrain: gamma shape \[3\] should be \[4\]/);
  assert.throws(() => addon.run('maxPool2d', [[X, [1, 2, 3, 4]]], [[Y, [1, 2, 3, 4]]], { kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 0, padW: 0 }), /maxPool2d: the 3x3 window does not fit x \[1,2,3,4\]/);
  for (const h of [X, Y, G, M, S]) addon.free(h);
  // Still works afterwards.
  await getBackend('cpu').sync();
});

test.run();
