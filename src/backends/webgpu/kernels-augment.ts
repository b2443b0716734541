// Launch plans for the batched augmentation kernels on WebGPU (issue 20; kernels/wgsl/augment.wgsl,
// the twins of kernels/cuda/augment.cu). The addon's validator has checked each call (planKernel), so
// x is a stack [B, H, W], the params row tensor [B, P] with P at least the kernel's minimum, and y
// has x's shape. Each kernel is one dispatch with an invocation per output pixel of the stack
// (unpack16: per packed word).
import { type Checked, type KernelSpec, type Pass, type Resource, newParams } from './plan.js';

const WG = 256;

function stackPass(entry: string, [x, rows, table]: Checked[], y: Checked): Pass {
  const [B, H, W] = x.shape;
  const P = rows.shape[1];
  const count = B * H * W;
  const { u, f } = newParams();
  u.set([B, H, W, P, count]);
  f[5] = 1;
  const bind: Array<[number, Resource]> = [[0, x.storage], [1, rows.storage], [3, y.storage]];
  if (table) bind.push([2, table.storage]);
  return { file: 'augment', entry, bind, paramsAt: 8, params: u, workgroups: Math.ceil(count / WG) };
}

const onStack =
  (entry: string): KernelSpec =>
  (ins, [y]) => ({ passes: [stackPass(entry, ins, y)] });

const unpack16: KernelSpec = ([packed], [y]) => {
  const n = y.storage.numel;
  const words = Math.ceil(n / 2);
  const { u, f } = newParams();
  u[4] = words;
  f[5] = 1;
  u[6] = n;
  return { passes: [{ file: 'augment', entry: 'unpack16', bind: [[4, packed.storage], [3, y.storage]], paramsAt: 8, params: u, workgroups: Math.ceil(words / WG) }] };
};

export const AUGMENT_SPECS: Record<string, KernelSpec> = {
  augmentUnpack16: unpack16,
  augmentPointwise: onStack('pointwise'),
  augmentWarpAffine: onStack('warpAffine'),
  augmentOptical: onStack('optical'),
  augmentMedian3: onStack('median3'),
  augmentTaps: onStack('taps'),
  augmentSharpen: onStack('sharpen'),
  augmentCutout: onStack('cutout'),
  augmentGaussNoise: onStack('gaussNoise'),
  augmentMulNoise: onStack('mulNoise'),
};
