// Augmentation on a device (issue 20): a batch's 16-bit cached images go up once, and every view's
// plan (compose.ts's Augmenter.plan, drawn on the host from the same seeded stream as the CPU path)
// runs as the batched kernels of the kernel table ("augmentation on the device"), one launch per
// step kind per round. So a (seed, epoch, index) gives the same views on the CPU and on any device,
// up to float32 arithmetic (test/augment-device.test.ts states the tolerances).
//
// The order of work for V views of B images, each H×W:
//   augmentUnpack16        the uint16 words (two per float32 of the upload) → [B, H, W] in [0, 1]
//   gatherRows             the source image of each view → [V, H, W]
//   round r = 0, 1, …      each view's r-th step; one launch per kind of step present in the round,
//                          views without that step copying through (a row with active 0)
//   augmentPointwise       the last pointwise step of each view fused with (v − mean)/std
//   cast                   to the step's dtype, when it is not float32
// The copies cost a read and a write of the stack per launch: ~1 MB a 512² view, noise next to a
// ResNet-50 step.
import type { BackendName } from '../../backends/backend.js';
import type { KernelName } from '../../backends/kernels.js';
import type { DType } from '../../core/dtype.js';
import { keep, tidy } from '../../core/engine.js';
import { fromFloat32Array, type Tensor } from '../../core/tensor.js';
import { cast } from '../../ops/cast.js';
import { launch } from '../../ops/op.js';
import { gatherRows } from '../../ops/rows.js';
import { lowbias32, normalTable, type PlanStep, type ViewPlan } from './plan.js';

type Op = PlanStep['op'];

/** The device kernel of each kind of step, and the row it reads (kernels.ts). */
const KERNEL_OF: Record<Op, KernelName> = {
  warpAffine: 'augmentWarpAffine',
  optical: 'augmentOptical',
  median: 'augmentMedian3',
  taps: 'augmentTaps',
  sharpen: 'augmentSharpen',
  cutout: 'augmentCutout',
  gaussNoise: 'augmentGaussNoise',
  mulNoise: 'augmentMulNoise',
  pointwise: 'augmentPointwise',
};
/** The order of launches within a round (any order gives the same views: each view takes one step a round). */
const OPS: readonly Op[] = ['warpAffine', 'optical', 'median', 'taps', 'sharpen', 'cutout', 'gaussNoise', 'mulNoise', 'pointwise'];

/** A step's parameter row (without padding); an inactive row is the copy row of its kernel. */
function row(s: PlanStep | null, op: Op): number[] {
  if (!s) {
    if (op === 'pointwise') return [0, 1, 0];
    return [0];
  }
  const key = (seed: number): [number, number] => {
    const k = lowbias32(seed >>> 0);
    return [k & 0xffff, k >>> 16];
  };
  switch (s.op) {
    case 'pointwise':
      return [s.stages.length / 2, 1, 0, ...s.stages];
    case 'warpAffine':
      return [1, ...s.m];
    case 'optical':
      return [1, s.k, s.dx, s.dy];
    case 'median':
      if (s.ksize !== 3) throw new RangeError(`augment on the device: medianBlur ksize ${s.ksize} has no device kernel (3×3 only); use ksize 3 or augment on the cpu`);
      return [1];
    case 'taps':
      return [1, s.taps.length, ...s.taps.flat()];
    case 'sharpen':
      return [1, s.alpha, s.lightness];
    case 'cutout':
      return [s.holes.length, s.fill, ...s.holes.flat()];
    case 'gaussNoise':
      return [1, s.sigma, ...key(s.seed)];
    case 'mulNoise':
      return [1, s.lo, s.hi, ...key(s.seed)];
  }
}

/** Rows padded to one width P (at least minP) as a [V, P] float32 tensor. */
function paramsTensor(rows: number[][], backend: BackendName, minP: number): Tensor {
  const P = Math.max(minP, ...rows.map((r) => r.length));
  const data = new Float32Array(rows.length * P);
  rows.forEach((r, i) => data.set(r, i * P));
  return fromFloat32Array(data, [rows.length, P], { backend });
}

const MIN_P: Record<Op, number> = { warpAffine: 7, optical: 4, median: 1, taps: 2, sharpen: 3, cutout: 2, gaussNoise: 4, mulNoise: 5, pointwise: 3 };

const tables = new Map<BackendName, Tensor>();
/** plan.ts's quantile table on a backend, uploaded once and kept. */
function tableOn(backend: BackendName): Tensor {
  let t = tables.get(backend);
  if (!t || t.isDisposed) {
    t = keep(fromFloat32Array(normalTable().slice(), [normalTable().length], { backend }));
    tables.set(backend, t);
  }
  return t;
}

/** B·H·W uint16 pixel words as the float32 words that carry them (two per word, low half first). */
export function packWords(pixels: Uint16Array): Float32Array {
  if (pixels.length % 2 === 0 && pixels.byteOffset % 4 === 0) return new Float32Array(pixels.buffer, pixels.byteOffset, pixels.length / 2);
  const padded = new Uint16Array(pixels.length + (pixels.length % 2));
  padded.set(pixels);
  return new Float32Array(padded.buffer, 0, padded.length / 2);
}

export interface DeviceAugmentInput {
  backend: BackendName;
  width: number;
  height: number;
  /** The batch's images, B·H·W 16-bit words (the preprocessing cache's pixels, k/65535 in [0, 1]). */
  pixels: Uint16Array;
  /** Per view: the index of its source image in pixels. */
  sources: readonly number[];
  /** Per view: its plan (Augmenter.plan) and normalisation. */
  plans: readonly ViewPlan[];
  /** The views' dtype (default float32). */
  dtype?: DType;
}

/** Runs every view's plan on the device: the views as [V, H, W, 1], enqueued (nothing waits). */
export function augmentOnDevice(o: DeviceAugmentInput): Tensor {
  const { backend, width: W, height: H, sources, plans } = o;
  const B = o.pixels.length / (W * H);
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`augmentOnDevice: ${o.pixels.length} pixel words are not a whole number of ${W}×${H} images`);
  if (sources.length !== plans.length || plans.length === 0) throw new RangeError(`augmentOnDevice: ${sources.length} sources for ${plans.length} plans (one each, at least one)`);
  for (const s of sources) if (!(Number.isInteger(s) && s >= 0 && s < B)) throw new RangeError(`augmentOnDevice: source ${s} is not one of the ${B} images`);
  // Each view's steps, its trailing pointwise step set aside for the final pass.
  const bodies = plans.map((p) => (p.steps[p.steps.length - 1]?.op === 'pointwise' ? p.steps.slice(0, -1) : p.steps));
  const tails = plans.map((p, v) => (bodies[v].length < p.steps.length ? (p.steps[p.steps.length - 1] as { stages: number[] }).stages : []));
  // Refuse what the device cannot run before anything is enqueued.
  for (const b of bodies) for (const s of b) row(s, s.op);
  return tidy(() => {
    const packed = fromFloat32Array(packWords(o.pixels), [Math.ceil(o.pixels.length / 2)], { backend });
    const images = launch({ op: 'augmentOnDevice', kernel: 'augmentUnpack16', inputs: [packed], outShape: [B, H, W] });
    const identity = sources.length === B && sources.every((s, i) => s === i);
    let x = identity ? images : gatherRows(images, [...sources]);
    const rounds = Math.max(0, ...bodies.map((b) => b.length));
    for (let r = 0; r < rounds; r++) {
      for (const op of OPS) {
        if (!bodies.some((b) => b[r]?.op === op)) continue;
        const params = paramsTensor(bodies.map((b) => row(b[r]?.op === op ? b[r] : null, op)), backend, MIN_P[op]);
        const inputs = op === 'gaussNoise' ? [x, params, tableOn(backend)] : [x, params];
        x = launch({ op: 'augmentOnDevice', kernel: KERNEL_OF[op], inputs, outShape: [x.shape[0], H, W] });
      }
    }
    const finish = paramsTensor(plans.map((p, v) => [tails[v].length / 2, 1 / p.std, -p.mean / p.std, ...tails[v]]), backend, 3);
    let views = launch({ op: 'augmentOnDevice', kernel: 'augmentPointwise', inputs: [x, finish], outShape: [x.shape[0], H, W] });
    if (o.dtype && o.dtype !== 'float32') views = cast(views, o.dtype);
    return views.reshape([plans.length, H, W, 1]);
  });
}
