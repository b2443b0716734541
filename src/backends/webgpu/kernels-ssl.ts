// Validation and launch plans for the ResNet-50 / MoCo / SimCLR / IFA kernels on WebGPU: layout
// copies, losses, batch norm, pooling, convolution and the optimizers. Validation mirrors the CPU
// backend's validators in kernels/cpu/*.cc: the same checks, the same messages (starting with the
// kernel name), minus the addon's prefix. Plans may take several passes (reductions) and scratch
// buffers; shaders are in kernels/wgsl/{layout,loss,batchnorm,pool,conv,optim}.wgsl.
import {
  type Attrs,
  type Checked,
  type KernelPlan,
  type KernelSpec,
  type Pass,
  type Resource,
  expectSameShape,
  formatShape,
  newParams,
  scratch,
} from './plan.js';
import type { ShaderFile } from './shaders.js';

const WG = 256;

/** std::to_string(double), as the CPU messages print numbers. */
function cppNum(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return v.toFixed(6);
}

function fail(k: string, msg: string): never {
  throw new RangeError(`${k}: ${msg}`);
}

function pass(file: ShaderFile, entry: string, bind: Array<[number, Resource]>, params: Uint32Array<ArrayBuffer>, workgroups: number): Pass {
  return { file, entry, bind, paramsAt: 8, params, workgroups };
}

function prod(s: readonly number[], from: number, to: number): number {
  let n = 1;
  for (let i = from; i < to; i++) n *= s[i];
  return n;
}

function integerAttr(k: string, a: Attrs, name: string, fallback: number, lo: number, hi: number): number {
  const v = a.raw(name, fallback);
  if (!Number.isFinite(v) || Math.floor(v) !== v || v < lo || v > hi) {
    fail(k, `attrs.${name} must be an integer in [${lo}, ${hi}], got ${cppNum(v)}`);
  }
  return v;
}

// ---- layout ----

function axisAttr(k: string, a: Attrs, s: number[]): number {
  if (s.length === 0) fail(k, 'cannot work along an axis of a scalar');
  return integerAttr(k, a, 'axis', NaN, 0, s.length - 1);
}

function copyPass(src: Resource, dst: Resource, outer: number, len: number, srcRow: number, dstRow: number, srcOff: number, dstOff: number): Pass {
  const { u } = newParams();
  u.set([outer * len, len, srcRow, dstRow, srcOff, dstOff]);
  return pass('layout', 'copyRows', [[0, src], [2, dst]], u, len > 0 ? Math.ceil((outer * len) / WG) : 0);
}

const concat: KernelSpec = {
  inputs: -1,
  outputs: 1,
  plan(k, ins, [y], a) {
    if (ins.length === 0) fail(k, 'needs at least one input');
    const ys = y.shape;
    const axis = axisAttr(k, a, ys);
    let total = 0;
    ins.forEach((t, i) => {
      const s = t.shape;
      const ok = s.length === ys.length && s.every((d, j) => j === axis || d === ys[j]);
      if (!ok) fail(k, `input ${i} shape ${formatShape(s)} does not match output ${formatShape(ys)} outside axis ${axis}`);
      total += s[axis];
    });
    if (total !== ys[axis]) fail(k, `inputs add up to ${total} along axis ${axis}, output ${formatShape(ys)} has ${ys[axis]}`);
    const outer = prod(ys, 0, axis);
    const inner = prod(ys, axis + 1, ys.length);
    const rowOut = ys[axis] * inner;
    let off = 0;
    const passes = ins.map((t) => {
      const len = t.shape[axis] * inner;
      const p = copyPass(t.storage, y.storage, outer, len, len, rowOut, 0, off);
      off += len;
      return p;
    });
    return { passes };
  },
};

function validateSlice(k: string, a: Attrs, big: number[], small: number[], bigName: string, smallName: string): { axis: number; start: number } {
  const axis = axisAttr(k, a, big);
  const ok = small.length === big.length && big.every((d, j) => j === axis || small[j] === d);
  if (!ok) fail(k, `${smallName} shape ${formatShape(small)} must equal ${bigName} shape ${formatShape(big)} outside axis ${axis}`);
  const start = integerAttr(k, a, 'start', NaN, 0, big[axis]);
  if (start + small[axis] > big[axis]) {
    fail(k, `slice [${start}, ${start + small[axis]}) of axis ${axis} is outside ${bigName} ${formatShape(big)}`);
  }
  return { axis, start };
}

const slice: KernelSpec = {
  inputs: 1,
  outputs: 1,
  plan(k, [x], [y], a) {
    const { axis, start } = validateSlice(k, a, x.shape, y.shape, 'x', 'y');
    const xs = x.shape;
    const outer = prod(xs, 0, axis);
    const inner = prod(xs, axis + 1, xs.length);
    const len = y.shape[axis] * inner;
    return { passes: [copyPass(x.storage, y.storage, outer, len, xs[axis] * inner, len, start * inner, 0)] };
  },
};

const sliceBackward: KernelSpec = {
  inputs: 1,
  outputs: 1,
  plan(k, [dy], [dx], a) {
    const { axis, start } = validateSlice(k, a, dx.shape, dy.shape, 'dx', 'dy');
    const xs = dx.shape;
    const inner = prod(xs, axis + 1, xs.length);
    const { u } = newParams();
    const n = dx.storage.numel;
    u.set([n, dy.shape[axis] * inner, 0, xs[axis] * inner, 0, 0, start * inner]);
    return { passes: [pass('layout', 'sliceBackward', [[0, dy.storage], [2, dx.storage]], u, Math.ceil(n / WG))] };
  },
};

const gatherRows: KernelSpec = {
  inputs: 1,
  outputs: 1,
  plan(k, [x], [y], a) {
    const xs = x.shape;
    if (xs.length === 0) fail(k, 'x must have at least one axis, got a scalar');
    const index = a.list('index');
    if (!index) fail(k, 'attrs.index (the row order) is required');
    const want = [...xs];
    want[0] = index.length;
    expectSameShape(k, y.shape, want, 'output');
    for (const i of index) {
      if (typeof i !== 'number' || !Number.isInteger(i)) throw new TypeError(`${k}: attrs.index must hold integers`);
      if (i < 0 || i >= xs[0]) fail(k, `row index ${i} is out of range for x ${formatShape(xs)}`);
    }
    const row = xs[0] ? x.storage.numel / xs[0] : 0;
    const n = y.storage.numel;
    const { u } = newParams();
    u[0] = n;
    u[6] = row;
    const idx = scratch(index.length, Uint32Array.from(index));
    return { passes: [pass('layout', 'gatherRows', [[0, x.storage], [1, idx], [2, y.storage]], u, row > 0 ? Math.ceil(n / WG) : 0)] };
  },
};

const copyRows: KernelSpec = {
  inputs: 1,
  outputs: 1,
  plan(k, [src], [dst], a) {
    const ss = src.shape;
    const ds = dst.shape;
    if (ss.length === 0 || ds.length !== ss.length) fail(k, `src ${formatShape(ss)} and dst ${formatShape(ds)} must have the same rank ≥ 1`);
    for (let i = 1; i < ss.length; i++) if (ss[i] !== ds[i]) fail(k, `src ${formatShape(ss)} and dst ${formatShape(ds)} differ beyond axis 0`);
    const start = a.raw('start', 0);
    if (start < 0 || start !== Math.trunc(start) || Math.trunc(start) + ss[0] > ds[0]) {
      fail(k, `rows [${Math.trunc(start)}, ${Math.trunc(start) + ss[0]}) do not fit in dst ${formatShape(ds)}`);
    }
    const row = ss[0] ? src.storage.numel / ss[0] : 0;
    const n = src.storage.numel;
    return { passes: [copyPass(src.storage, dst.storage, 1, n, n, n, 0, start * row)] };
  },
};

// ---- losses (kernels/cpu/loss.cc) ----

function finiteAttr(k: string, a: Attrs, name: string, fallback: number, lo: number): number {
  const v = a.raw(name, fallback);
  if (!Number.isFinite(v) || v < lo) {
    fail(k, `attrs.${name} must be a finite number${lo > -1e300 ? ` >= ${cppNum(lo)}` : ''}, got ${cppNum(v)}`);
  }
  return v;
}

function expectScalar(k: string, t: Checked, what: string): void {
  if (t.storage.numel !== 1) fail(k, `${what} must hold one value, got shape ${formatShape(t.shape)}`);
}

/** Lanes per row: a power of two near the row length / 32 (each lane sums ≥ 16 values, fewer barrier steps), 1 to 256. */
function lanesFor(len: number): number {
  let L = 1;
  while (L < 256 && L * 32 < len) L *= 2;
  return L;
}

function rowParams(rows: number, len: number, f3 = 0, f4 = 0, f5 = 0): { u: Uint32Array<ArrayBuffer>; groups: number } {
  const { u, f } = newParams();
  const L = lanesFor(len);
  u[0] = rows;
  u[1] = len;
  u[2] = L;
  f[3] = f3;
  f[4] = f4;
  f[5] = f5;
  return { u, groups: Math.ceil(rows / (256 / L)) };
}

function meanPass(term: Resource, out: Resource, n: number): Pass {
  const { u } = newParams();
  u[0] = n;
  return pass('loss', 'meanAll', [[0, term], [3, out]], u, 1);
}

function validateL2(k: string, a: Attrs, x: Checked): number {
  if (x.shape.length === 0 || x.shape[x.shape.length - 1] < 1) fail(k, `x must be [..., D] with D >= 1, got ${formatShape(x.shape)}`);
  return finiteAttr(k, a, 'eps', 1e-12, 0);
}

const l2Normalize: KernelSpec = {
  inputs: 1,
  outputs: 1,
  plan(k, [x], [y], a) {
    const eps = validateL2(k, a, x);
    expectSameShape(k, y.shape, x.shape, 'y');
    const D = x.shape[x.shape.length - 1];
    const { u, groups } = rowParams(x.storage.numel / D, D, eps);
    return { passes: [pass('loss', 'l2Normalize', [[0, x.storage], [3, y.storage]], u, groups)] };
  },
};

const l2NormalizeBackward: KernelSpec = {
  inputs: 2,
  outputs: 1,
  plan(k, [dy, x], [dx], a) {
    const eps = validateL2(k, a, x);
    expectSameShape(k, dy.shape, x.shape, 'dy');
    expectSameShape(k, dx.shape, x.shape, 'dx');
    const D = x.shape[x.shape.length - 1];
    const { u, groups } = rowParams(x.storage.numel / D, D, eps);
    return { passes: [pass('loss', 'l2NormalizeBackward', [[0, dy.storage], [1, x.storage], [3, dx.storage]], u, groups)] };
  },
};

function validateSoftmaxCE(k: string, logits: Checked, labels: Checked): void {
  const ls = logits.shape;
  if (ls.length !== 2) fail(k, `logits must be 2-D [N,K], got ${formatShape(ls)}`);
  const ys = labels.shape;
  if (ys.length !== 1 || ys[0] !== ls[0]) fail(k, `labels shape ${formatShape(ys)} should be [${ls[0]}] for logits ${formatShape(ls)}`);
}

const softmaxCrossEntropy: KernelSpec = {
  inputs: 2,
  outputs: 1,
  plan(k, [logits, labels], [loss]) {
    validateSoftmaxCE(k, logits, labels);
    expectScalar(k, loss, 'loss');
    const [N, K] = logits.shape;
    const term = scratch(N);
    const { u, groups } = rowParams(N, K);
    return {
      passes: [
        pass('loss', 'softmaxRows', [[1, logits.storage], [2, labels.storage], [3, term]], u, K > 0 ? groups : 0),
        meanPass(term, loss.storage, N),
      ],
    };
  },
};

const softmaxCrossEntropyBackward: KernelSpec = {
  inputs: 3,
  outputs: 1,
  plan(k, [dloss, logits, labels], [dlogits]) {
    expectScalar(k, dloss, 'dloss');
    validateSoftmaxCE(k, logits, labels);
    expectSameShape(k, dlogits.shape, logits.shape, 'dlogits');
    const [N, K] = logits.shape;
    const { u, groups } = rowParams(N, K);
    return {
      passes: [pass('loss', 'softmaxBackward', [[0, dloss.storage], [1, logits.storage], [2, labels.storage], [3, dlogits.storage]], u, K > 0 ? groups : 0)],
    };
  },
};

function ifaAttrs(k: string, a: Attrs): { target: number; eps: number } {
  return { target: finiteAttr(k, a, 'target', 1.0, -1e308), eps: finiteAttr(k, a, 'eps', 1e-6, 0) };
}

function validateIfaPair(k: string, a: Attrs, q: Checked, p: Checked): { target: number; eps: number } {
  if (q.shape.length === 0 || q.shape[q.shape.length - 1] < 1) fail(k, `q must be [..., C] with C >= 1, got ${formatShape(q.shape)}`);
  expectSameShape(k, p.shape, q.shape, 'p');
  return ifaAttrs(k, a);
}

const ifaLoss: KernelSpec = {
  inputs: 2,
  outputs: 1,
  plan(k, [q, p], [loss], a) {
    const { target, eps } = validateIfaPair(k, a, q, p);
    expectScalar(k, loss, 'loss');
    const C = q.shape[q.shape.length - 1];
    const M = q.storage.numel / C;
    const term = scratch(M);
    const { u, groups } = rowParams(M, C, target, eps);
    return { passes: [pass('loss', 'ifaRows', [[1, q.storage], [2, p.storage], [5, term]], u, groups), meanPass(term, loss.storage, M)] };
  },
};

const ifaLossBackward: KernelSpec = {
  inputs: 3,
  outputs: -1,
  plan(k, [dloss, q, p], outs, a) {
    expectScalar(k, dloss, 'dloss');
    const { target, eps } = validateIfaPair(k, a, q, p);
    if (outs.length === 0 || outs.length > 2) fail(k, `expects 1 or 2 outputs (dq[, dp]), got ${outs.length}`);
    expectSameShape(k, outs[0].shape, q.shape, 'dq');
    if (outs.length === 2) expectSameShape(k, outs[1].shape, q.shape, 'dp');
    const C = q.shape[q.shape.length - 1];
    const M = q.storage.numel / C;
    const { u, groups } = rowParams(M, C, target, eps);
    const bind: Array<[number, Resource]> = [[0, dloss.storage], [1, q.storage], [2, p.storage], [3, outs[0].storage]];
    if (outs.length === 2) bind.push([4, outs[1].storage]);
    return { passes: [pass('loss', outs.length === 2 ? 'ifaBackwardBoth' : 'ifaBackward', bind, u, groups)] };
  },
};

// Forward and backward in one sweep for a host-known upstream gradient (gradScale): per-pixel terms
// and dq (dp), then meanAll.
const ifaLossWithGrad: KernelSpec = {
  inputs: 2,
  outputs: -1,
  plan(k, [q, p], outs, a) {
    const { target, eps } = validateIfaPair(k, a, q, p);
    const gradScale = finiteAttr(k, a, 'gradScale', 1.0, -1e308);
    if (outs.length < 2 || outs.length > 3) fail(k, `expects 2 or 3 outputs (loss, dq[, dp]), got ${outs.length}`);
    expectScalar(k, outs[0], 'loss');
    expectSameShape(k, outs[1].shape, q.shape, 'dq');
    if (outs.length === 3) expectSameShape(k, outs[2].shape, q.shape, 'dp');
    const C = q.shape[q.shape.length - 1];
    const M = q.storage.numel / C;
    const term = scratch(M);
    const { u, groups } = rowParams(M, C, target, eps, gradScale / Math.max(M, 1));
    const bind: Array<[number, Resource]> = [[1, q.storage], [2, p.storage], [3, outs[1].storage], [5, term]];
    if (outs.length === 3) bind.push([4, outs[2].storage]);
    return { passes: [pass('loss', outs.length === 3 ? 'ifaWithGradBoth' : 'ifaWithGrad', bind, u, groups), meanPass(term, outs[0].storage, M)] };
  },
};

// ---- batch norm (kernels/cpu/batchnorm.cc) ----

function channelsOf(k: string, xs: number[]): number {
  if (xs.length < 2) fail(k, `x must have rank >= 2 ([..., C]), got ${formatShape(xs)}`);
  const C = xs[xs.length - 1];
  if (C < 1) fail(k, `x ${formatShape(xs)} has no channels`);
  return C;
}

function expectVector(k: string, t: Checked, C: number, what: string): void {
  if (t.shape.length !== 1 || t.shape[0] !== C) fail(k, `${what} shape ${formatShape(t.shape)} should be [${C}]`);
}

function epsAttr(k: string, a: Attrs): number {
  const eps = a.raw('eps', 1e-5);
  if (!Number.isFinite(eps) || eps < 0) fail(k, `attrs.eps must be a finite number >= 0, got ${cppNum(eps)}`);
  return eps;
}

function validateChannels(k: string, x: Checked, vectors: Checked[], names: string[]): number {
  const C = channelsOf(k, x.shape);
  vectors.forEach((t, i) => expectVector(k, t, C, names[i]));
  return C;
}

/** Row blocks for the two-level reductions: enough blocks to fill the device, ≤ 1024 of them. */
function bnGeometry(rows: number, C: number): { R: number; B: number } {
  const tiles = Math.ceil(C / 64);
  const wantGroups = 512;
  let B = Math.max(1, Math.min(1024, Math.ceil(wantGroups / tiles), Math.ceil(rows / 8)));
  const R = Math.max(1, Math.ceil(rows / B));
  B = Math.ceil(rows / R);
  return { R, B };
}

function bnParams(rows: number, C: number, R: number, B: number, relu: boolean, evalMode: boolean, eps: number, momentum = 0, count = 0): Uint32Array<ArrayBuffer> {
  const { u, f } = newParams();
  u.set([rows, C, R, B, relu ? 1 : 0, evalMode ? 1 : 0]);
  f[6] = eps;
  f[7] = momentum;
  f[8] = count;
  return u;
}

const batchNormTrain: KernelSpec = {
  inputs: 3,
  outputs: 3,
  plan(k, [x, gamma, beta], [y, mean, invStd], a) {
    const C = validateChannels(k, x, [gamma, beta], ['gamma', 'beta']);
    if (x.storage.numel / C < 1) fail(k, `x ${formatShape(x.shape)} has no rows to take statistics over`);
    expectSameShape(k, y.shape, x.shape, 'y');
    expectVector(k, mean, C, 'mean');
    expectVector(k, invStd, C, 'invStd');
    const eps = epsAttr(k, a);
    const rows = x.storage.numel / C;
    const { R, B } = bnGeometry(rows, C);
    const u = bnParams(rows, C, R, B, a.flag('relu'), false, eps);
    const part = scratch(B * C * 2);
    return {
      passes: [
        pass('batchnorm', 'bnStatsPartial', [[0, x.storage], [10, part]], u, Math.ceil(C / 64) * B),
        pass('batchnorm', 'bnStatsFinal', [[6, part], [10, mean.storage], [11, invStd.storage]], u, Math.ceil(C / 64)),
        pass('batchnorm', 'bnApply', [[0, x.storage], [2, gamma.storage], [3, beta.storage], [4, mean.storage], [5, invStd.storage], [9, y.storage]], u, Math.ceil(x.storage.numel / WG)),
      ],
    };
  },
};

const batchNormEval: KernelSpec = {
  inputs: 5,
  outputs: 1,
  plan(k, [x, gamma, beta, rm, rv], [y], a) {
    const C = validateChannels(k, x, [gamma, beta, rm, rv], ['gamma', 'beta', 'runningMean', 'runningVar']);
    expectSameShape(k, y.shape, x.shape, 'y');
    const eps = epsAttr(k, a);
    const rows = x.storage.numel / C;
    const u = bnParams(rows, C, 1, 1, a.flag('relu'), true, eps);
    return {
      passes: [pass('batchnorm', 'bnApply', [[0, x.storage], [2, gamma.storage], [3, beta.storage], [4, rm.storage], [5, rv.storage], [9, y.storage]], u, Math.ceil(x.storage.numel / WG))],
    };
  },
};

function batchNormBackwardSpec(evalMode: boolean): KernelSpec {
  return {
    inputs: 6,
    outputs: 3,
    plan(k, [dy, x, gamma, beta, s1, s2], [dx, dgamma, dbeta], a) {
      const names = evalMode ? ['gamma', 'beta', 'runningMean', 'runningVar'] : ['gamma', 'beta', 'mean', 'invStd'];
      const C = validateChannels(k, x, [gamma, beta, s1, s2], names);
      if (!evalMode && x.storage.numel / C < 1) fail(k, `x ${formatShape(x.shape)} has no rows`);
      expectSameShape(k, dy.shape, x.shape, 'dy');
      expectSameShape(k, dx.shape, x.shape, 'dx');
      expectVector(k, dgamma, C, 'dgamma');
      expectVector(k, dbeta, C, 'dbeta');
      const eps = evalMode ? epsAttr(k, a) : 0;
      const rows = x.storage.numel / C;
      const { R, B } = bnGeometry(rows, C);
      const u = bnParams(rows, C, R, B, a.flag('relu'), evalMode, eps);
      const chan = scratch(C * 3);
      const part = scratch(B * C * 2);
      const coef = scratch(C * 3);
      const tiles = Math.ceil(C / 64);
      return {
        passes: [
          pass('batchnorm', 'bnChannels', [[2, gamma.storage], [4, s1.storage], [5, s2.storage], [10, chan]], u, tiles),
          pass('batchnorm', 'bnGradPartial', [[0, x.storage], [1, dy.storage], [3, beta.storage], [7, chan], [10, part]], u, rows > 0 ? tiles * B : 0),
          pass('batchnorm', 'bnGradFinal', [[2, gamma.storage], [6, part], [7, chan], [10, dgamma.storage], [11, dbeta.storage], [12, coef]], u, tiles),
          pass('batchnorm', 'bnGradInput', [[0, x.storage], [1, dy.storage], [3, beta.storage], [6, coef], [7, chan], [9, dx.storage]], u, Math.ceil(x.storage.numel / WG)),
        ],
      };
    },
  };
}

const batchNormUpdateStats: KernelSpec = {
  inputs: 2,
  outputs: 2,
  plan(k, [mean, invStd], [rm, rv], a) {
    if (mean.shape.length !== 1) fail(k, `mean must be 1-D [C], got ${formatShape(mean.shape)}`);
    const C = mean.shape[0];
    expectVector(k, invStd, C, 'invStd');
    expectVector(k, rm, C, 'runningMean');
    expectVector(k, rv, C, 'runningVar');
    const eps = epsAttr(k, a);
    const m = a.raw('momentum', 0.1);
    if (!(m >= 0 && m <= 1)) fail(k, `attrs.momentum must be in [0, 1], got ${cppNum(m)}`);
    const n = a.raw('count', NaN);
    if (!Number.isFinite(n) || Math.floor(n) !== n || n < 2) {
      fail(k, `attrs.count (values per channel) must be an integer >= 2 for the unbiased variance, got ${cppNum(n)}`);
    }
    const u = bnParams(0, C, 1, 1, false, false, eps, m, n);
    return {
      passes: [pass('batchnorm', 'bnUpdateStats', [[4, mean.storage], [5, invStd.storage], [10, rm.storage], [11, rv.storage]], u, Math.ceil(C / 64))],
    };
  },
};

// ---- max pooling (kernels/cpu/pool.cc) ----

interface PoolGeom {
  N: number; H: number; W: number; C: number; Ho: number; Wo: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number;
}

function poolGeometry(k: string, a: Attrs, xs: number[]): PoolGeom {
  if (xs.length !== 4) fail(k, `x must be 4-D [N,H,W,C], got ${formatShape(xs)}`);
  const [N, H, W, C] = xs;
  if (H < 1 || W < 1) fail(k, `x ${formatShape(xs)} has an empty spatial extent`);
  const kh = integerAttr(k, a, 'kernelH', NaN, 1, 1 << 20);
  const kw = integerAttr(k, a, 'kernelW', NaN, 1, 1 << 20);
  const sh = integerAttr(k, a, 'strideH', NaN, 1, 1 << 20);
  const sw = integerAttr(k, a, 'strideW', NaN, 1, 1 << 20);
  const ph = integerAttr(k, a, 'padH', NaN, 0, Math.floor(kh / 2));
  const pw = integerAttr(k, a, 'padW', NaN, 0, Math.floor(kw / 2));
  if (H + 2 * ph < kh || W + 2 * pw < kw) fail(k, `the ${kh}x${kw} window does not fit x ${formatShape(xs)} with padding ${ph},${pw}`);
  return { N, H, W, C, kh, kw, sh, sw, ph, pw, Ho: Math.floor((H + 2 * ph - kh) / sh) + 1, Wo: Math.floor((W + 2 * pw - kw) / sw) + 1 };
}

function poolParams(g: PoolGeom, total: number): Uint32Array<ArrayBuffer> {
  const { u } = newParams();
  u.set([g.N, g.H, g.W, g.C, g.Ho, g.Wo, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, total]);
  return u;
}

const maxPool2d: KernelSpec = {
  inputs: 1,
  outputs: 1,
  plan(k, [x], [y], a) {
    const g = poolGeometry(k, a, x.shape);
    expectSameShape(k, y.shape, [g.N, g.Ho, g.Wo, g.C], 'y');
    const n = y.storage.numel;
    return { passes: [pass('pool', 'maxPool2d', [[0, x.storage], [9, y.storage]], poolParams(g, n), Math.ceil(n / WG))] };
  },
};

const maxPool2dBackward: KernelSpec = {
  inputs: 2,
  outputs: 1,
  plan(k, [dy, x], [dx], a) {
    const g = poolGeometry(k, a, x.shape);
    expectSameShape(k, dy.shape, [g.N, g.Ho, g.Wo, g.C], 'dy');
    expectSameShape(k, dx.shape, x.shape, 'dx');
    const n = dx.storage.numel;
    return { passes: [pass('pool', 'maxPool2dBackward', [[0, x.storage], [1, dy.storage], [9, dx.storage]], poolParams(g, n), Math.ceil(n / WG))] };
  },
};

// ---- convolution (kernels/cpu/conv.cc) ----

interface ConvGeom {
  n: number; h: number; w: number; ci: number; co: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number; ho: number; wo: number;
}

function convGeometry(k: string, a: Attrs, xs: number[], xName: string, ws: number[], wName: string, ys: number[], yName: string): ConvGeom {
  if (xs.length !== 4) fail(k, `${xName} must be 4-D [N,H,W,C], got ${formatShape(xs)}`);
  if (ws.length !== 4) fail(k, `${wName} must be 4-D [Co,KH,KW,Ci], got ${formatShape(ws)}`);
  if (ys.length !== 4) fail(k, `${yName} must be 4-D [N,Ho,Wo,Co], got ${formatShape(ys)}`);
  const [n, h, w, ci] = xs;
  const [co, kh, kw] = ws;
  if (ws[3] !== ci) fail(k, `${xName} ${formatShape(xs)} has ${ci} channels but ${wName} ${formatShape(ws)} expects ${ws[3]}`);
  if (kh < 1 || kw < 1) fail(k, `${wName} ${formatShape(ws)} has an empty kernel`);
  const sh = integerAttr(k, a, 'strideH', 1, 1, 1 << 20);
  const sw = integerAttr(k, a, 'strideW', 1, 1, 1 << 20);
  const ph = integerAttr(k, a, 'padH', 0, 0, 1 << 20);
  const pw = integerAttr(k, a, 'padW', 0, 0, 1 << 20);
  if (h + 2 * ph < kh || w + 2 * pw < kw) {
    fail(k, `the ${kh}x${kw} kernel of ${wName} ${formatShape(ws)} does not fit ${xName} ${formatShape(xs)} with padding ${ph},${pw}`);
  }
  const ho = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const wo = Math.floor((w + 2 * pw - kw) / sw) + 1;
  const want = [n, ho, wo, co];
  if (!(ys.length === 4 && ys.every((d, i) => d === want[i]))) {
    fail(k, `${yName} shape ${formatShape(ys)} should be ${formatShape(want)} for ${xName} ${formatShape(xs)}, ${wName} ${formatShape(ws)}, stride ${sh},${sw}, padding ${ph},${pw}`);
  }
  return { n, h, w, ci, co, kh, kw, sh, sw, ph, pw, ho, wo };
}

const TILE = 64;

function convPlan(mode: number, g: ConvGeom, A: Resource, B: Resource, out: Resource): KernelPlan {
  let M: number, N: number, K: number;
  if (mode === 0) [M, N, K] = [g.n * g.ho * g.wo, g.co, g.kh * g.kw * g.ci];
  else if (mode === 1) [M, N, K] = [g.n * g.h * g.w, g.ci, g.kh * g.kw * g.co];
  else [M, N, K] = [g.co, g.kh * g.kw * g.ci, g.n * g.ho * g.wo];
  const tilesM = Math.ceil(M / TILE);
  const tilesN = Math.ceil(N / TILE);
  const { u } = newParams();
  u.set([mode, M, N, K, tilesM, tilesN, g.n, g.h, g.w, g.ci, g.co, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.ho, g.wo]);
  // An empty GEMM depth still has to write zeros: the kernel does (its accumulators start at 0).
  return { passes: [pass('conv', 'convGemm', [[0, A], [1, B], [9, out]], u, M > 0 && N > 0 ? tilesM * tilesN : 0)] };
}

const conv2d: KernelSpec = {
  inputs: 2,
  outputs: 1,
  plan(k, [x, w], [y], a) {
    const g = convGeometry(k, a, x.shape, 'x', w.shape, 'w', y.shape, 'y');
    return convPlan(0, g, x.storage, w.storage, y.storage);
  },
};

const conv2dBackwardInput: KernelSpec = {
  inputs: 2,
  outputs: 1,
  plan(k, [dy, w], [dx], a) {
    const g = convGeometry(k, a, dx.shape, 'dx', w.shape, 'w', dy.shape, 'dy');
    return convPlan(1, g, dy.storage, w.storage, dx.storage);
  },
};

const conv2dBackwardFilter: KernelSpec = {
  inputs: 2,
  outputs: 1,
  plan(k, [x, dy], [dw], a) {
    const g = convGeometry(k, a, x.shape, 'x', dw.shape, 'dw', dy.shape, 'dy');
    return convPlan(2, g, dy.storage, x.storage, dw.storage);
  },
};

// ---- optimizers (kernels/cpu/optim.cc): one dispatch per tensor ----

function optimFinite(k: string, a: Attrs, name: string, fallback: number): number {
  const v = a.raw(name, fallback);
  if (!Number.isFinite(v)) fail(k, `attrs.${name} must be a finite number, got ${cppNum(v)}`);
  return v;
}

function expectPairedShapes(k: string, ins: Checked[], outs: Checked[], first: number, inName: string, outName: string): void {
  ins.forEach((t, i) => {
    const o = outs[first + i];
    if (!(o.shape.length === t.shape.length && o.shape.every((d, j) => d === t.shape[j]))) {
      fail(k, `${outName} ${i} shape ${formatShape(o.shape)} differs from ${inName} ${i} shape ${formatShape(t.shape)}`);
    }
  });
}

const sgd: KernelSpec = {
  inputs: -1,
  outputs: -1,
  plan(k, ins, outs, a) {
    const K = ins.length;
    const lr = a.raw('lr', NaN);
    if (!Number.isFinite(lr)) fail(k, `attrs.lr must be a finite number, got ${cppNum(lr)}`);
    const momentum = optimFinite(k, a, 'momentum', 0);
    const dampening = optimFinite(k, a, 'dampening', 0);
    const wd = optimFinite(k, a, 'weightDecay', 0);
    if (momentum < 0) fail(k, `attrs.momentum must be >= 0, got ${cppNum(momentum)}`);
    const nesterov = a.flag('nesterov');
    if (nesterov && (momentum <= 0 || dampening !== 0)) fail(k, 'nesterov momentum requires momentum > 0 and dampening = 0');
    const withBuffers = outs.length === 2 * K;
    if (!withBuffers && !(outs.length === K && momentum === 0)) {
      fail(k, `takes ${K} gradient(s), so expects ${2 * K} outputs (parameters, then momentum buffers) or, with momentum 0, ${K}; got ${outs.length}`);
    }
    expectPairedShapes(k, ins, outs, 0, 'gradient', 'parameter');
    if (withBuffers) expectPairedShapes(k, ins, outs, K, 'gradient', 'momentum buffer');
    const useMomentum = Math.fround(momentum) !== 0;
    const passes = ins.map((g, i) => {
      const { u, f } = newParams();
      const n = g.storage.numel;
      u[0] = n;
      u[1] = (nesterov ? 1 : 0) | (a.flag('firstStep') ? 2 : 0) | (Math.fround(wd) !== 0 ? 4 : 0);
      f[2] = -lr;
      f[3] = wd;
      f[4] = momentum;
      f[5] = 1 - dampening;
      const bind: Array<[number, Resource]> = [[0, g.storage], [1, outs[i].storage]];
      if (useMomentum) bind.push([2, outs[K + i].storage]);
      return pass('optim', useMomentum ? 'sgd' : 'sgdPlain', bind, u, Math.ceil(n / WG));
    });
    return { passes };
  },
};

const ema: KernelSpec = {
  inputs: -1,
  outputs: -1,
  plan(k, ins, outs, a) {
    if (outs.length !== ins.length) fail(k, `takes ${ins.length} source(s) but ${outs.length} target(s)`);
    const m = a.raw('m', NaN);
    if (!(m >= 0 && m <= 1)) fail(k, `attrs.m must be in [0, 1], got ${cppNum(m)}`);
    expectPairedShapes(k, ins, outs, 0, 'source', 'target');
    const passes = ins.map((s, i) => {
      const { u, f } = newParams();
      const n = s.storage.numel;
      u[0] = n;
      f[6] = m;
      f[7] = 1 - m;
      return pass('optim', 'ema', [[0, s.storage], [1, outs[i].storage]], u, Math.ceil(n / WG));
    });
    return { passes };
  },
};

export const EXTRA_SPECS: Record<string, KernelSpec> = {
  gatherRows,
  copyRows,
  concat,
  slice,
  sliceBackward,
  l2Normalize,
  l2NormalizeBackward,
  softmaxCrossEntropy,
  softmaxCrossEntropyBackward,
  ifaLoss,
  ifaLossBackward,
  ifaLossWithGrad,
  batchNormTrain,
  batchNormEval,
  batchNormBackward: batchNormBackwardSpec(false),
  batchNormEvalBackward: batchNormBackwardSpec(true),
  batchNormUpdateStats,
  maxPool2d,
  maxPool2dBackward,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardFilter,
  sgd,
  ema,
};

