// The layers ResNet-50 and the projection heads are made of, with PyTorch's (torchvision's)
// initialisation and parameter names.
import { Rng } from '../core/random.js';
import { zeros, ones, type Tensor } from '../core/tensor.js';
import { RngInit, type WeightInit } from './init.js';
import type { BackendName } from '../backends/backend.js';
import { batchNorm2d } from '../ops/batchnorm.js';
import { cast } from '../ops/cast.js';
import { conv2d, linear } from '../ops/conv2d.js';
import { globalAvgPool, maxPool2d } from '../ops/pool.js';
import { relu } from '../ops/relu.js';
import { Module } from './module.js';

export interface InitOptions {
  rng?: Rng;
  /** Where the initial weights come from (default: drawn now from rng, see src/nn/init.ts). */
  init?: WeightInit;
  backend?: BackendName;
}

function initOf(opts: InitOptions): WeightInit {
  return opts.init ?? new RngInit(opts.rng ?? new Rng(0));
}

export class Conv2d extends Module {
  readonly stride: number;
  readonly padding: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    opts: InitOptions & { stride?: number; padding?: number; bias?: boolean } = {},
  ) {
    super();
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    const init = initOf(opts);
    // torchvision ResNet: kaiming_normal_(mode='fan_out', nonlinearity='relu').
    const std = Math.sqrt(2 / (outChannels * kernel * kernel));
    this.registerParameter('weight', init.normal([outChannels, kernel, kernel, inChannels], std, opts.backend));
    if (opts.bias) this.registerParameter('bias', init.uniform([outChannels], 1 / Math.sqrt(inChannels * kernel * kernel), opts.backend));
  }
  /** A half x (mixed precision) reads a cast of the float32 weight (and bias); their gradients come back float32. */
  forward(x: Tensor): Tensor {
    const like = (t: Tensor | undefined) => (t === undefined || t.dtype === x.dtype ? t : cast(t, x.dtype));
    return conv2d(x, like(this.param('weight'))!, { stride: this.stride, padding: this.padding, bias: like(this.param('bias')) });
  }
}

export class BatchNorm2d extends Module {
  /** Counted like PyTorch's num_batches_tracked (saved as int64 in checkpoints). */
  numBatchesTracked = 0;
  constructor(
    readonly channels: number,
    opts: InitOptions & { eps?: number; momentum?: number } = {},
    readonly eps = opts.eps ?? 1e-5,
    readonly momentum = opts.momentum ?? 0.1,
  ) {
    super();
    this.registerParameter('weight', ones([channels], { backend: opts.backend }));
    this.registerParameter('bias', zeros([channels], { backend: opts.backend }));
    this.registerBuffer('running_mean', zeros([channels], { backend: opts.backend }));
    this.registerBuffer('running_var', ones([channels], { backend: opts.backend }));
  }
  /** relu: the fused BatchNorm+ReLU kernel (one pass forward, one backward). */
  forward(x: Tensor, opts: { relu?: boolean } = {}): Tensor {
    if (this.training) this.numBatchesTracked++;
    return batchNorm2d(x, this.param('weight'), this.param('bias'), {
      training: this.training,
      runningMean: this.buffer('running_mean'),
      runningVar: this.buffer('running_var'),
      momentum: this.momentum,
      eps: this.eps,
      relu: opts.relu ?? false,
    });
  }
}

export class Linear extends Module {
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: InitOptions & { bias?: boolean } = {},
  ) {
    super();
    const init = initOf(opts);
    // PyTorch's default: kaiming_uniform_(a=√5) → U(−1/√in, 1/√in), and the same bound for the bias.
    const bound = 1 / Math.sqrt(inFeatures);
    this.registerParameter('weight', init.uniform([outFeatures, inFeatures], bound, opts.backend));
    if (opts.bias ?? true) this.registerParameter('bias', init.uniform([outFeatures], bound, opts.backend));
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.param('weight'), this.param('bias'));
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class MaxPool2d extends Module {
  constructor(
    readonly kernel = 3,
    readonly stride = 2,
    readonly padding = 1,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, { kernel: this.kernel, stride: this.stride, padding: this.padding });
  }
}

export class GlobalAvgPool extends Module {
  forward(x: Tensor): Tensor {
    return globalAvgPool(x);
  }
}

/** Children named "0", "1", … as torch.nn.Sequential. */
export class Sequential extends Module {
  readonly layers: (Module & { forward(x: Tensor): Tensor })[];
  constructor(...layers: (Module & { forward(x: Tensor): Tensor })[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.registerModule(String(i), l));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const l of this.layers) h = l.forward(h);
    return h;
  }
}
