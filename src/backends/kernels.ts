// The kernel table: every kernel's name, tensor slots, attributes and meaning, in one place (in the
// spirit of tfjs's kernel_names.ts). Backends implement kernels by these names; the CPU backend
// implements all of them and is the reference the conformance suite compares against. One validator
// per kernel checks a call on every backend: the addon's (kernels/cpu/*.cc, shared by the CUDA
// kernels), which WebGPU calls through the addon's validate() before it encodes a dispatch.
// test/kernel-table.test.ts holds the table, the backends and the validators to each other.
//
// Conventions:
// - Shapes travel with each call (storage is a flat array of one dtype), so reshapes are free.
//   Activations are NHWC, convolution weights [Cout, KH, KW, Cin].
// - Dtypes: each tensor slot is T, the call's dtype (one dtype for all T slots of a call), or F,
//   always float32. A backend says which T each kernel takes (Backend.kernelDtypes): the CPU takes
//   float32, bfloat16 and float16 for every kernel but softmaxCrossEntropy(+Backward), sgd, ema and
//   sgemm, computing half kernels in fp32 on the widened inputs and rounding the outputs (the half
//   reference); CUDA says per kernel (the tensor-core kernels by device); WebGPU is float32 only.
// - Attributes: a required attribute has no default anywhere below the op — the op in src/ops (or
//   src/optim) that launches the kernel owns the default and always passes it; a kernel fails with
//   "<kernel>: attrs.<name> is required" without it. Optional attributes are flags (absent = false)
//   or neutral values (scale 1, axes: all).
// - attrs.tf32 (matmul and the three conv2d kernels): setFloat32Precision('tf32') is on and the
//   operands are float32, so a backend may read them as TF32 on tensor cores (CUDA). CPU kernels
//   ignore it (they are always exact float32), as does WebGPU.
// - In-place kernels (inPlace) read their outputs too: optimizers, running statistics, queue writes.

export type SlotRole = 'T' | 'F';

export interface Slot {
  readonly name: string;
  readonly role: SlotRole;
}

export type AttrType = 'number' | 'integer' | 'boolean' | 'integers';

export interface AttrSpec {
  readonly type: AttrType;
  readonly required: boolean;
}

export interface KernelContract {
  /** Input slots in order; with `variadic` 'inputs' or 'both', the last slot repeats. */
  readonly inputs: readonly Slot[];
  readonly outputs: readonly Slot[];
  readonly variadic?: 'inputs' | 'outputs' | 'both';
  /** Outputs may have fewer slots than listed (the last ones are optional). */
  readonly optionalOutputs?: number;
  readonly attrs: Readonly<Record<string, AttrSpec>>;
  readonly inPlace?: boolean;
  /** Every slot may have any dtype (cast). */
  readonly anyDtype?: boolean;
}

const T = (name: string): Slot => ({ name, role: 'T' });
const F = (name: string): Slot => ({ name, role: 'F' });
const num = (required = true): AttrSpec => ({ type: 'number', required });
const int = (required = true): AttrSpec => ({ type: 'integer', required });
const flag: AttrSpec = { type: 'boolean', required: false };
const ints = (required = true): AttrSpec => ({ type: 'integers', required });

const convAttrs = { strideH: int(), strideW: int(), padH: int(), padW: int(), tf32: flag, tcTile: int(false), tcSplits: int(false) };
const poolAttrs = { kernelH: int(), kernelW: int(), strideH: int(), strideW: int(), padH: int(), padW: int() };
const ifaAttrs = { target: num(), eps: num() };

export const KERNELS = {
  // ---- elementwise ----
  /** out = a + b with numpy broadcasting; out has the broadcast shape. */
  add: { inputs: [T('a'), T('b')], outputs: [T('out')], attrs: {} },
  /** out = a · b with numpy broadcasting. */
  mul: { inputs: [T('a'), T('b')], outputs: [T('out')], attrs: {} },
  /** out = scale · x broadcast to out's shape (scale absent: 1). */
  broadcastTo: { inputs: [T('x')], outputs: [T('out')], attrs: { scale: num(false) } },
  /** y = max(x, 0). */
  relu: { inputs: [T('x')], outputs: [T('y')], attrs: {} },
  /** dx = dy where y > 0, else 0. */
  reluBackward: { inputs: [T('dy'), T('y')], outputs: [T('dx')], attrs: {} },
  /** y = max(a + b, 0), a and b of y's shape: a residual block's add and ReLU in one pass (its gradient is reluBackward on y, for both). */
  addRelu: { inputs: [T('a'), T('b')], outputs: [T('y')], attrs: {} },
  /** out = value everywhere. */
  fill: { inputs: [], outputs: [T('out')], attrs: { value: num() } },
  /** y = x in y's dtype: any dtype in, any out (the one kernel whose slots are free); narrowing rounds to nearest even. */
  cast: { inputs: [T('x')], outputs: [T('y')], attrs: {}, anyDtype: true },

  // ---- reductions and GEMM ----
  /**
   * y = scale · Σ over attrs.axes (all when absent); y holds the kept axes in row-major order
   * (scale absent: 1).
   */
  reduceSum: { inputs: [T('x')], outputs: [T('y')], attrs: { axes: ints(false), scale: num(false) } },
  /** c[M,N] = op(a)·op(b), op a transpose when the flag is set. */
  matmul: { inputs: [T('a'), T('b')], outputs: [T('c')], attrs: { transposeA: flag, transposeB: flag, tf32: flag } },
  /**
   * BLAS-style c[:m,:n] = alpha·op(a)[:m,:k]·op(b)[:k,:n] + beta·c on row-major blocks (leading
   * dimensions from the shapes); float32 only. For the GEMM benchmarks (alpha absent: 1, beta: 0).
   */
  sgemm: {
    inputs: [T('a'), T('b')],
    outputs: [T('c')],
    attrs: { m: int(), n: int(), k: int(), alpha: num(false), beta: num(false), transposeA: flag, transposeB: flag },
  },

  // ---- the ResNet-50 / MoCo / SimCLR / IFA set ----
  /**
   * y[N,Ho,Wo,Co] = x[N,H,W,Ci] ⋆ w[Co,KH,KW,Ci]; Ho = (H + 2·padH − KH) / strideH + 1 (floor); zero
   * padding; no bias (added by the op). tcTile/tcSplits pin a CUDA tensor-core plan (tests only).
   */
  conv2d: { inputs: [T('x'), T('w')], outputs: [T('y')], attrs: convAttrs },
  /** dx[N,H,W,Ci] from dy[N,Ho,Wo,Co] and w; H, W from dx's shape. */
  conv2dBackwardInput: { inputs: [T('dy'), T('w')], outputs: [T('dx')], attrs: convAttrs },
  /** dw[Co,KH,KW,Ci] from x and dy; KH, KW from dw's shape; float32 from half activations. */
  conv2dBackwardFilter: { inputs: [T('x'), T('dy')], outputs: [F('dw')], attrs: convAttrs },
  /**
   * Batch statistics over all but the last axis: invStd = 1/sqrt(biased var + eps),
   * y = relu?((x − mean)·invStd·gamma + beta).
   */
  batchNormTrain: {
    inputs: [T('x'), F('gamma'), F('beta')],
    outputs: [T('y'), F('mean'), F('invStd')],
    attrs: { eps: num(), relu: flag },
  },
  /** y = relu?((x − runningMean)/sqrt(runningVar + eps)·gamma + beta). */
  batchNormEval: {
    inputs: [T('x'), F('gamma'), F('beta'), F('runningMean'), F('runningVar')],
    outputs: [T('y')],
    attrs: { eps: num(), relu: flag },
  },
  /** The training-mode gradient; with relu, dy is masked where the (recomputed) output is ≤ 0. */
  batchNormBackward: {
    inputs: [T('dy'), T('x'), F('gamma'), F('beta'), F('mean'), F('invStd')],
    outputs: [T('dx'), F('dgamma'), F('dbeta')],
    attrs: { relu: flag },
  },
  /** The affine gradient of eval mode. */
  batchNormEvalBackward: {
    inputs: [T('dy'), T('x'), F('gamma'), F('beta'), F('runningMean'), F('runningVar')],
    outputs: [T('dx'), F('dgamma'), F('dbeta')],
    attrs: { eps: num(), relu: flag },
  },
  /**
   * running = (1 − momentum)·running + momentum·batch in place, with the unbiased variance
   * (var·count/(count − 1)), as PyTorch.
   */
  batchNormUpdateStats: {
    inputs: [F('mean'), F('invStd')],
    outputs: [F('runningMean'), F('runningVar')],
    attrs: { momentum: num(), eps: num(), count: int() },
    inPlace: true,
  },
  /** y[N,Ho,Wo,C]; padding is −∞; Ho as for conv. */
  maxPool2d: { inputs: [T('x')], outputs: [T('y')], attrs: poolAttrs },
  /** The gradient goes to the first maximum of each window. */
  maxPool2dBackward: { inputs: [T('dy'), T('x')], outputs: [T('dx')], attrs: poolAttrs },
  /** Along the last axis: y = x / max(‖x‖₂, eps). */
  l2Normalize: { inputs: [T('x')], outputs: [T('y')], attrs: { eps: num() } },
  l2NormalizeBackward: { inputs: [T('dy'), T('x')], outputs: [T('dx')], attrs: { eps: num() } },
  /** y = x0 ‖ x1 ‖ … along axis. */
  concat: { inputs: [T('x')], outputs: [T('y')], variadic: 'inputs', attrs: { axis: int() } },
  /** y = x[start : start + length] along axis; length from y's shape. */
  slice: { inputs: [T('x')], outputs: [T('y')], attrs: { axis: int(), start: int() } },
  /** dx = dy placed at [start, …) along axis; zeros outside the slice. */
  sliceBackward: { inputs: [T('dy')], outputs: [T('dx')], attrs: { axis: int(), start: int() } },
  /** Mean over N of the cross-entropy of logits[N,K] against class indices labels[N]; float32 only. */
  softmaxCrossEntropy: { inputs: [T('logits'), T('labels')], outputs: [T('loss')], attrs: {} },
  softmaxCrossEntropyBackward: { inputs: [T('dloss'), T('logits'), T('labels')], outputs: [T('dlogits')], attrs: {} },
  /**
   * Mean over pixels of |target − cos(q, p)| for q, p [..., C], cos = ⟨q,p⟩ / (max(‖q‖, eps)·max(‖p‖, eps)),
   * as torch.nn.functional.cosine_similarity computes it in PyTorch 1.13 (each norm clamped).
   */
  ifaLoss: { inputs: [T('q'), T('p')], outputs: [F('loss')], attrs: ifaAttrs },
  /** dq (and dp when two outputs are given) for the scalar dloss. */
  ifaLossBackward: { inputs: [F('dloss'), T('q'), T('p')], outputs: [T('dq'), T('dp')], optionalOutputs: 1, attrs: ifaAttrs },
  /**
   * ifaLoss and ifaLossBackward for dloss = gradScale (absent: 1) in one pass over q and p; dp when
   * three outputs are given.
   */
  ifaLossWithGrad: {
    inputs: [T('q'), T('p')],
    outputs: [F('loss'), T('dq'), T('dp')],
    optionalOutputs: 1,
    attrs: { ...ifaAttrs, gradScale: num(false) },
  },
  /** y[i] = x[index[i]] along axis 0. */
  gatherRows: { inputs: [T('x')], outputs: [T('y')], attrs: { index: ints() } },
  /** dst[start : start + rows(src)] = src, in place (MoCo's queue). */
  copyRows: { inputs: [T('src')], outputs: [T('dst')], attrs: { start: int() }, inPlace: true },
  /**
   * PyTorch's SGD in place on K tensors: inputs grad0…gradK, outputs param0…paramK then
   * momentum0…momentumK (left out with momentum 0); float32 only.
   */
  sgd: {
    inputs: [T('grad')],
    outputs: [T('param')],
    variadic: 'both',
    attrs: { lr: num(), momentum: num(), weightDecay: num(), dampening: num(), nesterov: flag, firstStep: flag },
    inPlace: true,
  },
  /** t = m·t + (1 − m)·s on K tensors in place (MoCo's key encoder); float32 only. */
  ema: { inputs: [T('source')], outputs: [T('target')], variadic: 'both', attrs: { m: num() }, inPlace: true },

  // ---- augmentation on the device (issue 20; src/data/augment/plan.ts, device.ts) ----
  // A batch of B gray images is a stack x [B, H, W] (float32). Each kernel applies one plan step to
  // every image of the stack, with image b's parameters in row b of params [B, P] (float32; P from
  // the shape, at least what the kernel reads); a row whose first value (active) is 0 copies image b
  // unchanged, so one launch serves a batch where only some views take the step. Pixel indices are
  // i = y·W + x within an image. BORDER_REFLECT_101 is reflect101(i, n): i mod (2n − 2) mirrored
  // (n = 1: 0). Bilinear sampling, the border path and the interior test are pixels.ts's
  // warpAffineInverse / sampleBorder: a source point with |sx| or |sy| ≥ 1e9 (or NaN) samples 0.
  // Noise keys are lowbias32(seed) (plan.ts) split in 16-bit halves, keyLo + 65536·keyHi, exact in
  // float32. Counts in a row (k, n) are clamped to what the row holds; tap offsets and hole corners
  // are integers (truncated toward zero), corners clamped to the image. The CPU kernels compute in float64 from the float32 parameters (the reference); devices
  // in float32, within the tolerances of test/augment-device.test.ts.
  /**
   * y[b, i] = word(i + b·H·W) / 65535 for the flat stack's 16-bit pixel words, two per float32 of
   * packed (bits, not values: the low half first), packed ≥ ceil(B·H·W / 2) words.
   */
  augmentUnpack16: { inputs: [F('packed')], outputs: [F('y')], attrs: {} },
  /**
   * params row [k, scale, shift, a0, b0, …, a(k−1), b(k−1)]: v = x; v = clip01(v·aj + bj) for each
   * stage j in order; y = v·scale + shift (brightness, contrast, scalar multiplicative noise, and the
   * final (v − mean)/std). k = 0, scale 1, shift 0 copies. No active flag: k = 0 with 1, 0 is it.
   */
  augmentPointwise: { inputs: [F('x'), F('params')], outputs: [F('y')], attrs: {} },
  /** params row [active, m0 … m5]: y(x, y) = bilinear x at (m0·x + m1·y + m2, m3·x + m4·y + m5), reflect101. */
  augmentWarpAffine: { inputs: [F('x'), F('params')], outputs: [F('y')], attrs: {} },
  /**
   * params row [active, k, dx, dy]: pixels.ts's opticalDistortionKernel (albumentations'
   * OpticalDistortion, k1 = k2 = k, centre shifted by dx, dy pixels), bilinear, reflect101.
   */
  augmentOptical: { inputs: [F('x'), F('params')], outputs: [F('y')], attrs: {} },
  /** params row [active]: the 3×3 median with replicated borders (medianBlurKernel, ksize 3). */
  augmentMedian3: { inputs: [F('x'), F('params')], outputs: [F('y')], attrs: {} },
  /**
   * params row [active, n, dx0, dy0, w0, …]: y(x, y) = Σt wt·x(reflect101(x + dxt, W), reflect101(y + dyt, H))
   * over the n taps (filterTaps: motion blur), summed in tap order.
   */
  augmentTaps: { inputs: [F('x'), F('params')], outputs: [F('y')], attrs: {} },
  /**
   * params row [active, alpha, lightness]: y = clip01(x·(1 + α(8 + L)) − α·box3(x)), box3 the 3×3 sum
   * with reflect101 borders (sharpenKernel).
   */
  augmentSharpen: { inputs: [F('x'), F('params')], outputs: [F('y')], attrs: {} },
  /** params row [n, fill, x1, y1, x2, y2, …]: y = x, then each rectangle [x1, x2) × [y1, y2) (clamped) set to fill. */
  augmentCutout: { inputs: [F('x'), F('params')], outputs: [F('y')], attrs: {} },
  /**
   * params row [active, sigma, keyLo, keyHi]: y = clip01(x + σ·z_i), z_i = gaussFromU32(r_i, table),
   * r_i = lowbias32((i·0x9E3779B9 + key) mod 2³²); table [4097] is plan.ts's normalTable().
   */
  augmentGaussNoise: { inputs: [F('x'), F('params'), F('table')], outputs: [F('y')], attrs: {} },
  /** params row [active, lo, hi, keyLo, keyHi]: y = clip01(x·(lo + (hi − lo)·r_i/2³²)), r_i as augmentGaussNoise's. */
  augmentMulNoise: { inputs: [F('x'), F('params')], outputs: [F('y')], attrs: {} },
} as const satisfies Record<string, KernelContract>;

export type KernelName = keyof typeof KERNELS;

export const KERNEL_NAMES = Object.freeze(Object.keys(KERNELS)) as readonly KernelName[];

/** The contract of a kernel, or undefined for a name outside the table. */
export function kernelContract(name: string): KernelContract | undefined {
  return Object.hasOwn(KERNELS, name) ? (KERNELS as Record<string, KernelContract>)[name] : undefined;
}

/**
 * Kernels a backend may register beyond the table, and why. The CPU keeps the obvious version of
 * each fast kernel beside it as `<kernel>Reference` (same contract), for the tests and benchmarks
 * that compare the two.
 */
export function isReferenceTwin(name: string): boolean {
  return name.endsWith('Reference') && kernelContract(name.slice(0, -'Reference'.length)) !== undefined;
}

// ---- cost: what each kernel must move and compute (the profiler's bytes, FLOPs and roofline)

/** A kernel call as the cost functions see it: each tensor's shape and element size, the attributes. */
export interface CostCall {
  readonly inputs: readonly { readonly shape: readonly number[]; readonly bytesPerElement: number }[];
  readonly outputs: readonly { readonly shape: readonly number[]; readonly bytesPerElement: number }[];
  readonly attrs: Readonly<Record<string, number | boolean | number[] | undefined>>;
}

export interface KernelCost {
  /**
   * The compulsory traffic: every input read once and every output written once (an in-place
   * output read and written), at each tensor's dtype size. Caches that miss, im2col buffers and
   * re-reads are the kernel's inefficiency, not its cost.
   */
  bytes: number;
  /** Floating-point operations (a fused multiply-add is 2), by the closed form beside each kernel. */
  flops: number;
}

const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const tensorBytes = (ts: CostCall['inputs']): number => ts.reduce((s, t) => s + count(t.shape) * t.bytesPerElement, 0);
/** Inputs once, outputs once (twice in place: read and written). */
const traffic = (c: CostCall, inPlace = false): number => tensorBytes(c.inputs) + tensorBytes(c.outputs) * (inPlace ? 2 : 1);
const elems = (c: CostCall, side: 'inputs' | 'outputs', i = 0): number => count(c[side][i].shape);
const perElement = (flopsPerElement: number, side: 'inputs' | 'outputs' = 'outputs') => (c: CostCall): KernelCost => ({ bytes: traffic(c), flops: flopsPerElement * elems(c, side) });
const moveOnly = (c: CostCall): KernelCost => ({ bytes: traffic(c), flops: 0 });
/** 2·N·Ho·Wo·Co·Ci·KH·KW for the three convolutions: y/dy [N,Ho,Wo,Co], w/dw [Co,KH,KW,Ci]. */
const convFlops = (outGrad: readonly number[], weight: readonly number[]): number => 2 * count(outGrad) * count(weight.slice(1));

/**
 * Each kernel's cost from its call. FLOP counts per element (elementwise, normalisation, losses) are
 * the arithmetic of the obvious algorithm, written beside each; GEMM and convolutions are exact.
 */
export const KERNEL_COSTS = {
  add: perElement(1),
  mul: perElement(1),
  broadcastTo: (c) => ({ bytes: traffic(c), flops: c.attrs.scale !== undefined && c.attrs.scale !== 1 ? elems(c, 'outputs') : 0 }),
  relu: perElement(1),
  reluBackward: perElement(1),
  addRelu: perElement(2),
  fill: moveOnly,
  cast: moveOnly,
  reduceSum: perElement(1, 'inputs'),
  /** 2·M·N·K: c [M,N], K the contracted dimension of a. */
  matmul: (c) => {
    const [m, n] = c.outputs[0].shape;
    const a = c.inputs[0].shape;
    const k = c.attrs.transposeA ? a[0] : a[1];
    return { bytes: traffic(c), flops: 2 * m * n * k };
  },
  /** 2·m·n·k (+ m·n for alpha ≠ 1, + 2·m·n for beta ≠ 0) on the blocks the attributes name. */
  sgemm: (c) => {
    const m = Number(c.attrs.m), n = Number(c.attrs.n), k = Number(c.attrs.k);
    const beta = c.attrs.beta !== undefined && c.attrs.beta !== 0;
    const alpha = c.attrs.alpha !== undefined && c.attrs.alpha !== 1;
    return { bytes: 4 * (m * k + k * n + m * n * (beta ? 2 : 1)), flops: 2 * m * n * k + (alpha ? m * n : 0) + (beta ? 2 * m * n : 0) };
  },
  conv2d: (c) => ({ bytes: traffic(c), flops: convFlops(c.outputs[0].shape, c.inputs[1].shape) }),
  conv2dBackwardInput: (c) => ({ bytes: traffic(c), flops: convFlops(c.inputs[0].shape, c.inputs[1].shape) }),
  conv2dBackwardFilter: (c) => ({ bytes: traffic(c), flops: convFlops(c.inputs[1].shape, c.outputs[0].shape) }),
  /** Statistics: Σx and Σx² (3 per element); apply x·scale + shift (2); relu (1). */
  batchNormTrain: (c) => ({ bytes: traffic(c), flops: (c.attrs.relu ? 6 : 5) * elems(c, 'inputs') }),
  /** x·scale + shift (2), relu (1). */
  batchNormEval: (c) => ({ bytes: traffic(c), flops: (c.attrs.relu ? 3 : 2) * elems(c, 'inputs') }),
  /** x̂ (2), Σdy and Σdy·x̂ (3), dx = k·(dy − a − x̂·b) (4), relu mask (1). */
  batchNormBackward: (c) => ({ bytes: traffic(c), flops: (c.attrs.relu ? 10 : 9) * elems(c, 'inputs') }),
  /** Σdy and Σdy·x̂ with x̂ (5), dx = dy·scale (1), relu mask (1). */
  batchNormEvalBackward: (c) => ({ bytes: traffic(c), flops: (c.attrs.relu ? 7 : 6) * elems(c, 'inputs') }),
  /** Two running statistics of C channels, ~4 operations each (the variance from invStd). */
  batchNormUpdateStats: (c) => ({ bytes: traffic(c, true), flops: 8 * elems(c, 'inputs') }),
  /** KH·KW comparisons per output. */
  maxPool2d: (c) => ({ bytes: traffic(c), flops: Number(c.attrs.kernelH) * Number(c.attrs.kernelW) * elems(c, 'outputs') }),
  maxPool2dBackward: (c) => ({ bytes: traffic(c), flops: Number(c.attrs.kernelH) * Number(c.attrs.kernelW) * elems(c, 'inputs') }),
  /** Σx² (2), divide (1). */
  l2Normalize: perElement(3, 'inputs'),
  /** ⟨dy, y⟩ (2), dx = (dy − y·⟨dy,y⟩)/n (3), y (1). */
  l2NormalizeBackward: perElement(6, 'inputs'),
  concat: moveOnly,
  slice: moveOnly,
  sliceBackward: moveOnly,
  /** Max, exp and sum, log: ~4 per logit. */
  softmaxCrossEntropy: perElement(4, 'inputs'),
  /** softmax again (3) and subtract the one-hot, scale (2). */
  softmaxCrossEntropyBackward: (c) => ({ bytes: traffic(c), flops: 5 * elems(c, 'inputs', 1) }),
  /** Per pixel ⟨q,p⟩, ‖q‖², ‖p‖² over C: 6 per element of q. */
  ifaLoss: perElement(6, 'inputs'),
  /** The three sums again (6) and dq = a·p − b·q (3), dp the same (3) when asked, per element of q. */
  ifaLossBackward: (c) => ({ bytes: traffic(c), flops: (c.outputs.length > 1 ? 12 : 9) * elems(c, 'inputs', 1) }),
  ifaLossWithGrad: (c) => ({ bytes: traffic(c), flops: (c.outputs.length > 2 ? 12 : 9) * elems(c, 'inputs') }),
  gatherRows: moveOnly,
  /** Reads src and writes as many rows of dst (the rest of the queue is untouched). */
  copyRows: (c) => ({ bytes: 2 * tensorBytes(c.inputs), flops: 0 }),
  /** Per parameter: g + wd·p (2), m = μ·m + g (2), p −= lr·m (2); params and momenta read and written. */
  sgd: (c) => ({ bytes: traffic(c, true), flops: 6 * tensorBytes(c.inputs) / (c.inputs[0]?.bytesPerElement ?? 4) }),
  /** t = m·t + (1 − m)·s: 3 per element; targets read and written. */
  ema: (c) => ({ bytes: traffic(c, true), flops: 3 * tensorBytes(c.inputs) / (c.inputs[0]?.bytesPerElement ?? 4) }),
  /** One multiply per pixel. */
  augmentUnpack16: perElement(1),
  /** Two per stage (multiply-add) plus the clip's two compares, and the final multiply-add. */
  augmentPointwise: (c) => ({ bytes: traffic(c), flops: (2 + 4 * Math.max(0, (c.inputs[1].shape[1] ?? 3) - 3) / 2) * elems(c, 'outputs') }),
  /** The source point (4), the bilinear blend (6). */
  augmentWarpAffine: perElement(10),
  /** r² (3), the radial factor (4), the source point (4), the bilinear blend (6). */
  augmentOptical: perElement(17),
  /** A 9-value median network, ~19 compare-exchanges. */
  augmentMedian3: perElement(19),
  /** A multiply-add per tap (the row's n ≤ (P − 2) / 3). */
  augmentTaps: (c) => ({ bytes: traffic(c), flops: 2 * Math.max(1, Math.floor(((c.inputs[1].shape[1] ?? 2) - 2) / 3)) * elems(c, 'outputs') }),
  /** The 3×3 box sum (8), the blend (3), the clip (2). */
  augmentSharpen: perElement(13),
  augmentCutout: moveOnly,
  /** The hash (~8 integer operations, not counted), the table's interpolation (3), x + σz (2), clip (2). */
  augmentGaussNoise: perElement(7),
  /** The multiplier (2), the product (1), clip (2). */
  augmentMulNoise: perElement(5),
} satisfies Record<KernelName, (c: CostCall) => KernelCost>;

/** The cost of a call of `kernel` (a `<kernel>Reference` twin costs what its kernel does); null when unknown. */
export function kernelCost(kernel: string, call: CostCall): KernelCost | null {
  const name = isReferenceTwin(kernel) ? kernel.slice(0, -'Reference'.length) : kernel;
  if (!Object.hasOwn(KERNEL_COSTS, name)) return null;
  return (KERNEL_COSTS as Record<string, (c: CostCall) => KernelCost>)[name](call);
}
