// Launch plans for the ResNet-50 / MoCo / SimCLR / IFA kernels on WebGPU: layout copies, losses,
// batch norm, pooling, convolution and the optimizers. The addon's validator has checked each call
// (kernels.ts: planKernel), so a plan reads its geometry from shapes and attrs it can trust. Plans
// may take several passes (reductions) and scratch buffers; shaders are in
// kernels/wgsl/{layout,loss,batchnorm,pool,conv,optim}.wgsl.
import { type Attrs, type Checked, type KernelPlan, type KernelSpec, type Pass, type Resource, newParams, scratch } from './plan.js';
import type { ShaderFile } from './shaders.js';
import { sliceOf } from './split.js';

const WG = 256;

function pass(file: ShaderFile, entry: string, bind: Array<[number, Resource]>, params: Uint32Array<ArrayBuffer>, workgroups: number): Pass {
  return { file, entry, bind, paramsAt: 8, params, workgroups };
}

function prod(s: readonly number[], from: number, to: number): number {
  let n = 1;
  for (let i = from; i < to; i++) n *= s[i];
  return n;
}

const lastDim = (s: readonly number[]): number => s[s.length - 1];

// ---- layout ----

function copyPass(src: Resource, dst: Resource, outer: number, len: number, srcRow: number, dstRow: number, srcOff: number, dstOff: number): Pass {
  const { u } = newParams();
  u.set([outer * len, len, srcRow, dstRow, srcOff, dstOff]);
  return pass('layout', 'copyRows', [[0, src], [2, dst]], u, len > 0 ? Math.ceil((outer * len) / WG) : 0);
}

const concat: KernelSpec = (ins, [y], a) => {
  const ys = y.shape;
  const axis = a.num('axis');
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
};

const slice: KernelSpec = ([x], [y], a) => {
  const axis = a.num('axis');
  const xs = x.shape;
  const outer = prod(xs, 0, axis);
  const inner = prod(xs, axis + 1, xs.length);
  const len = y.shape[axis] * inner;
  return { passes: [copyPass(x.storage, y.storage, outer, len, xs[axis] * inner, len, a.num('start') * inner, 0)] };
};

const sliceBackward: KernelSpec = ([dy], [dx], a) => {
  const axis = a.num('axis');
  const xs = dx.shape;
  const inner = prod(xs, axis + 1, xs.length);
  const { u } = newParams();
  const n = dx.storage.numel;
  u.set([n, dy.shape[axis] * inner, 0, xs[axis] * inner, 0, 0, a.num('start') * inner]);
  return { passes: [pass('layout', 'sliceBackward', [[0, dy.storage], [2, dx.storage]], u, Math.ceil(n / WG))] };
};

const gatherRows: KernelSpec = ([x], [y], a) => {
  const index = a.list('index') ?? [];
  const row = x.shape[0] ? x.storage.numel / x.shape[0] : 0;
  const n = y.storage.numel;
  const { u } = newParams();
  u[0] = n;
  u[6] = row;
  const idx = scratch(index.length, Uint32Array.from(index));
  return { passes: [pass('layout', 'gatherRows', [[0, x.storage], [1, idx], [2, y.storage]], u, row > 0 ? Math.ceil(n / WG) : 0)] };
};

const copyRows: KernelSpec = ([src], [dst], a) => {
  const ss = src.shape;
  const row = ss[0] ? src.storage.numel / ss[0] : 0;
  const n = src.storage.numel;
  return { passes: [copyPass(src.storage, dst.storage, 1, n, n, n, 0, a.num('start') * row)] };
};

// ---- losses ----

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

const l2Normalize: KernelSpec = ([x], [y], a) => {
  const D = lastDim(x.shape);
  const { u, groups } = rowParams(x.storage.numel / D, D, a.num('eps'));
  return { passes: [pass('loss', 'l2Normalize', [[0, x.storage], [3, y.storage]], u, groups)] };
};

const l2NormalizeBackward: KernelSpec = ([dy, x], [dx], a) => {
  const D = lastDim(x.shape);
  const { u, groups } = rowParams(x.storage.numel / D, D, a.num('eps'));
  return { passes: [pass('loss', 'l2NormalizeBackward', [[0, dy.storage], [1, x.storage], [3, dx.storage]], u, groups)] };
};

const softmaxCrossEntropy: KernelSpec = ([logits, labels], [loss]) => {
  const [N, K] = logits.shape;
  const term = scratch(N);
  const { u, groups } = rowParams(N, K);
  return {
    passes: [
      pass('loss', 'softmaxRows', [[1, logits.storage], [2, labels.storage], [3, term]], u, K > 0 ? groups : 0),
      meanPass(term, loss.storage, N),
    ],
  };
};

const softmaxCrossEntropyBackward: KernelSpec = ([dloss, logits, labels], [dlogits]) => {
  const [N, K] = logits.shape;
  const { u, groups } = rowParams(N, K);
  const bind: Array<[number, Resource]> = [[0, dloss.storage], [1, logits.storage], [2, labels.storage], [3, dlogits.storage]];
  return { passes: [pass('loss', 'softmaxBackward', bind, u, K > 0 ? groups : 0)] };
};

/** Rows M and channels C of an IFA pair q, p [..., C]. */
function ifaRows(q: Checked): { M: number; C: number } {
  const C = lastDim(q.shape);
  return { M: q.storage.numel / C, C };
}

const ifaLoss: KernelSpec = ([q, p], [loss], a) => {
  const { M, C } = ifaRows(q);
  const term = scratch(M);
  const { u, groups } = rowParams(M, C, a.num('target'), a.num('eps'));
  return { passes: [pass('loss', 'ifaRows', [[1, q.storage], [2, p.storage], [5, term]], u, groups), meanPass(term, loss.storage, M)] };
};

const ifaLossBackward: KernelSpec = ([dloss, q, p], outs, a) => {
  const { M, C } = ifaRows(q);
  const { u, groups } = rowParams(M, C, a.num('target'), a.num('eps'));
  const bind: Array<[number, Resource]> = [[0, dloss.storage], [1, q.storage], [2, p.storage], [3, outs[0].storage]];
  if (outs.length === 2) bind.push([4, outs[1].storage]);
  return { passes: [pass('loss', outs.length === 2 ? 'ifaBackwardBoth' : 'ifaBackward', bind, u, groups)] };
};

// Forward and backward in one sweep for a host-known upstream gradient (gradScale): per-pixel terms
// and dq (dp), then meanAll.
const ifaLossWithGrad: KernelSpec = ([q, p], outs, a) => {
  const { M, C } = ifaRows(q);
  const term = scratch(M);
  const { u, groups } = rowParams(M, C, a.num('target'), a.num('eps'), a.num('gradScale', 1) / Math.max(M, 1));
  const bind: Array<[number, Resource]> = [[1, q.storage], [2, p.storage], [3, outs[1].storage], [5, term]];
  if (outs.length === 3) bind.push([4, outs[2].storage]);
  return { passes: [pass('loss', outs.length === 3 ? 'ifaWithGradBoth' : 'ifaWithGrad', bind, u, groups), meanPass(term, outs[0].storage, M)] };
};

// ---- batch norm ----

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
  u.set([0, B, rows], 9);  // one chunk: blocks from 0, all B blocks over all rows
  return u;
}

/**
 * The row chunks of a batch-norm call: the whole call, or (past one storage binding, split.ts) the
 * views of `chunk` samples each. Each chunk's blocks of R rows follow the previous chunk's; u9 is a
 * chunk's first block, Bc and Rc the blocks and rows of a full chunk (the merge passes' params).
 */
interface BnChunks {
  C: number;
  rows: number;
  R: number;
  /** Blocks in all. */
  B: number;
  Bc: number;
  Rc: number;
  parts: Array<{ rows: number; blocks: number; firstBlock: number; view: (t: Checked) => Checked }>;
}

function bnChunks(x: Checked, chunk?: number): BnChunks {
  const C = lastDim(x.shape);
  const rows = x.storage.numel / C;
  const n = x.shape[0] ?? 1;
  const whole = (t: Checked) => t;
  if (!chunk || chunk >= n || x.shape.length < 2) {
    const { R, B } = bnGeometry(rows, C);
    return { C, rows, R, B, Bc: B, Rc: rows, parts: [{ rows, blocks: B, firstBlock: 0, view: whole }] };
  }
  const perSample = rows / n;
  const Rc = chunk * perSample;
  const { R } = bnGeometry(Rc, C);
  const Bc = Math.ceil(Rc / R);
  const parts: BnChunks['parts'] = [];
  let B = 0;
  for (let s = 0; s < n; s += chunk) {
    const count = Math.min(chunk, n - s);
    const blocks = Math.ceil((count * perSample) / R);
    parts.push({ rows: count * perSample, blocks, firstBlock: B, view: (t) => sliceOf(t, n, s, count) });
    B += blocks;
  }
  return { C, rows, R, B, Bc, Rc, parts };
}

/** Params of one chunk's per-row pass, or (part undefined) of a merge over every block. */
function bnChunkParams(k: BnChunks, part: BnChunks['parts'][number] | undefined, relu: boolean, evalMode: boolean, eps: number): Uint32Array<ArrayBuffer> {
  const u = bnParams(part ? part.rows : k.rows, k.C, k.R, part ? part.blocks : k.B, relu, evalMode, eps);
  u.set([part ? part.firstBlock : 0, k.Bc, k.Rc], 9);
  return u;
}

const batchNormTrain: KernelSpec = ([x, gamma, beta], [y, mean, invStd], a, chunk) => {
  const k = bnChunks(x, chunk);
  const relu = a.flag('relu');
  const eps = a.num('eps');
  const part = scratch(k.B * k.C * 2);
  const tiles = Math.ceil(k.C / 64);
  const merge = bnChunkParams(k, undefined, relu, false, eps);
  return {
    passes: [
      ...k.parts.map((p) => pass('batchnorm', 'bnStatsPartial', [[0, p.view(x).storage], [10, part]], bnChunkParams(k, p, relu, false, eps), tiles * p.blocks)),
      pass('batchnorm', 'bnStatsFinal', [[6, part], [10, mean.storage], [11, invStd.storage]], merge, tiles),
      ...k.parts.map((p) =>
        pass('batchnorm', 'bnApply', [[0, p.view(x).storage], [2, gamma.storage], [3, beta.storage], [4, mean.storage], [5, invStd.storage], [9, p.view(y).storage]], bnChunkParams(k, p, relu, false, eps), Math.ceil((p.rows * k.C) / WG)),
      ),
    ],
  };
};

const batchNormEval: KernelSpec = ([x, gamma, beta, rm, rv], [y], a) => {
  const C = lastDim(x.shape);
  const u = bnParams(x.storage.numel / C, C, 1, 1, a.flag('relu'), true, a.num('eps'));
  const bind: Array<[number, Resource]> = [[0, x.storage], [2, gamma.storage], [3, beta.storage], [4, rm.storage], [5, rv.storage], [9, y.storage]];
  return { passes: [pass('batchnorm', 'bnApply', bind, u, Math.ceil(x.storage.numel / WG))] };
};

function batchNormBackwardSpec(evalMode: boolean): KernelSpec {
  return ([dy, x, gamma, beta, s1, s2], [dx, dgamma, dbeta], a, chunk) => {
    const k = bnChunks(x, chunk);
    const relu = a.flag('relu');
    const eps = evalMode ? a.num('eps') : 0;
    const merge = bnChunkParams(k, undefined, relu, evalMode, eps);
    const chan = scratch(k.C * 3);
    const part = scratch(k.B * k.C * 2);
    const coef = scratch(k.C * 3);
    const tiles = Math.ceil(k.C / 64);
    return {
      passes: [
        pass('batchnorm', 'bnChannels', [[2, gamma.storage], [4, s1.storage], [5, s2.storage], [10, chan]], merge, tiles),
        ...k.parts.map((p) =>
          pass('batchnorm', 'bnGradPartial', [[0, p.view(x).storage], [1, p.view(dy).storage], [3, beta.storage], [7, chan], [10, part]], bnChunkParams(k, p, relu, evalMode, eps), p.rows > 0 ? tiles * p.blocks : 0),
        ),
        pass('batchnorm', 'bnGradFinal', [[2, gamma.storage], [6, part], [7, chan], [10, dgamma.storage], [11, dbeta.storage], [12, coef]], merge, tiles),
        ...k.parts.map((p) =>
          pass('batchnorm', 'bnGradInput', [[0, p.view(x).storage], [1, p.view(dy).storage], [3, beta.storage], [6, coef], [7, chan], [9, p.view(dx).storage]], bnChunkParams(k, p, relu, evalMode, eps), Math.ceil((p.rows * k.C) / WG)),
        ),
      ],
    };
  };
}

const batchNormUpdateStats: KernelSpec = ([mean, invStd], [rm, rv], a) => {
  const C = mean.shape[0];
  const u = bnParams(0, C, 1, 1, false, false, a.num('eps'), a.num('momentum'), a.num('count'));
  return { passes: [pass('batchnorm', 'bnUpdateStats', [[4, mean.storage], [5, invStd.storage], [10, rm.storage], [11, rv.storage]], u, Math.ceil(C / 64))] };
};

// ---- max pooling ----

/** The pooling parameter words: x's geometry, the output's, the window and the element count. */
function poolParams(xs: number[], a: Attrs, total: number): Uint32Array<ArrayBuffer> {
  const [N, H, W, C] = xs;
  const [kh, kw, sh, sw, ph, pw] = ['kernelH', 'kernelW', 'strideH', 'strideW', 'padH', 'padW'].map((n) => a.num(n));
  const Ho = Math.floor((H + 2 * ph - kh) / sh) + 1;
  const Wo = Math.floor((W + 2 * pw - kw) / sw) + 1;
  const { u } = newParams();
  u.set([N, H, W, C, Ho, Wo, kh, kw, sh, sw, ph, pw, total]);
  return u;
}

const maxPool2d: KernelSpec = ([x], [y], a) => {
  const n = y.storage.numel;
  return { passes: [pass('pool', 'maxPool2d', [[0, x.storage], [9, y.storage]], poolParams(x.shape, a, n), Math.ceil(n / WG))] };
};

const maxPool2dBackward: KernelSpec = ([dy, x], [dx], a) => {
  const n = dx.storage.numel;
  return { passes: [pass('pool', 'maxPool2dBackward', [[0, x.storage], [1, dy.storage], [9, dx.storage]], poolParams(x.shape, a, n), Math.ceil(n / WG))] };
};

// ---- convolution: one implicit GEMM (conv.wgsl's convGemm) in three modes ----

const TILE = 64;

/** mode 0 forward, 1 input gradient, 2 filter gradient; x [N,H,W,Ci], w [Co,KH,KW,Ci], y [N,Ho,Wo,Co]. */
function convPlan(mode: number, xs: number[], ws: number[], ys: number[], a: Attrs, A: Resource, B: Resource, out: Resource): KernelPlan {
  const [n, h, w, ci] = xs;
  const [co, kh, kw] = ws;
  const [, ho, wo] = ys;
  let M: number, N: number, K: number;
  if (mode === 0) [M, N, K] = [n * ho * wo, co, kh * kw * ci];
  else if (mode === 1) [M, N, K] = [n * h * w, ci, kh * kw * co];
  else [M, N, K] = [co, kh * kw * ci, n * ho * wo];
  const tilesM = Math.ceil(M / TILE);
  const tilesN = Math.ceil(N / TILE);
  const { u } = newParams();
  u.set([mode, M, N, K, tilesM, tilesN, n, h, w, ci, co, kh, kw, a.num('strideH'), a.num('strideW'), a.num('padH'), a.num('padW'), ho, wo]);
  // An empty GEMM depth still has to write zeros: the kernel does (its accumulators start at 0).
  return { passes: [pass('conv', 'convGemm', [[0, A], [1, B], [9, out]], u, M > 0 && N > 0 ? tilesM * tilesN : 0)] };
}

const conv2d: KernelSpec = ([x, w], [y], a) => convPlan(0, x.shape, w.shape, y.shape, a, x.storage, w.storage, y.storage);
const conv2dBackwardInput: KernelSpec = ([dy, w], [dx], a) => convPlan(1, dx.shape, w.shape, dy.shape, a, dy.storage, w.storage, dx.storage);
const conv2dBackwardFilter: KernelSpec = ([x, dy], [dw], a) => convPlan(2, x.shape, dw.shape, dy.shape, a, dy.storage, x.storage, dw.storage);

// ---- optimizers: one dispatch per tensor ----

const sgd: KernelSpec = (ins, outs, a) => {
  const K = ins.length;
  const [lr, momentum, dampening, wd] = ['lr', 'momentum', 'dampening', 'weightDecay'].map((n) => a.num(n));
  const useMomentum = Math.fround(momentum) !== 0;
  const passes = ins.map((g, i) => {
    const { u, f } = newParams();
    const n = g.storage.numel;
    u[0] = n;
    u[1] = (a.flag('nesterov') ? 1 : 0) | (a.flag('firstStep') ? 2 : 0) | (Math.fround(wd) !== 0 ? 4 : 0);
    f[2] = -lr;
    f[3] = wd;
    f[4] = momentum;
    f[5] = 1 - dampening;
    const bind: Array<[number, Resource]> = [[0, g.storage], [1, outs[i].storage]];
    if (useMomentum) bind.push([2, outs[K + i].storage]);
    return pass('optim', useMomentum ? 'sgd' : 'sgdPlain', bind, u, Math.ceil(n / WG));
  });
  return { passes };
};

const ema: KernelSpec = (ins, outs, a) => {
  const m = a.num('m');
  const passes = ins.map((s, i) => {
    const { u, f } = newParams();
    const n = s.storage.numel;
    u[0] = n;
    f[6] = m;
    f[7] = 1 - m;
    return pass('optim', 'ema', [[0, s.storage], [1, outs[i].storage]], u, Math.ceil(n / WG));
  });
  return { passes };
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
