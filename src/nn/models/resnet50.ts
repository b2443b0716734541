// ResNet-50 with torchvision's topology (v1.5: the stride sits on the 3×3 conv of each bottleneck),
// configurable input channels (1 for radiographs, 3 for ImageNet weights), taps on the outputs of
// stages 1–4 (the IFA loss's features), and an optional projection head: linear 2048→dim, or MLP
// 2048→hidden→ReLU→dim (MoCo v2 / SimCLR). State-dict keys are torchvision's.
import type { BackendName } from '../../backends/backend.js';
import type { DType } from '../../core/dtype.js';
import { Rng } from '../../core/random.js';
import type { Tensor } from '../../core/tensor.js';
import { cast } from '../../ops/cast.js';
import { addRelu } from '../../ops/relu.js';
import { BatchNorm2d, Conv2d, GlobalAvgPool, Linear, MaxPool2d, ReLU, Sequential } from '../layers.js';
import { Module } from '../module.js';
import { DeferredInit, RngInit, type WeightInit } from '../init.js';

export interface ResNet50Options {
  inChannels?: number;
  /** 'none': the encoder returns the 2048-d pooled features. */
  head?: 'linear' | 'mlp' | 'none';
  /** Output dimension of the head (128 in MoCo v2 / SimCLR). */
  dim?: number;
  /** Hidden width of the MLP head (2048). */
  hidden?: number;
  /** Blocks per stage; [3, 4, 6, 3] is ResNet-50 (smaller lists make quick test models). */
  layers?: [number, number, number, number];
  /** Channel width of stage 1's bottleneck (64 in ResNet-50). */
  width?: number;
  seed?: number;
  backend?: BackendName;
  /**
   * The dtype of the activations (default float32). bfloat16 or float16 is mixed precision
   * (src/train/precision.ts): the weights stay float32 and each convolution reads a cast of its
   * weight; the pooled features and the head are float32, the taps are in this dtype.
   */
  dtype?: DType;
}

export class Bottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inplanes: number, planes: number, stride: number, downsample: boolean, rng: Rng | WeightInit, backend?: BackendName) {
    super();
    const o = { init: rng instanceof Rng ? new RngInit(rng) : rng, backend };
    this.conv1 = this.registerModule('conv1', new Conv2d(inplanes, planes, 1, o));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes, o));
    this.conv2 = this.registerModule('conv2', new Conv2d(planes, planes, 3, { ...o, stride, padding: 1 }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes, o));
    this.conv3 = this.registerModule('conv3', new Conv2d(planes, planes * 4, 1, o));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(planes * 4, o));
    this.downsample = downsample
      ? this.registerModule('downsample', new Sequential(new Conv2d(inplanes, planes * 4, 1, { ...o, stride }), new BatchNorm2d(planes * 4, o)))
      : null;
  }

  forward(x: Tensor): Tensor {
    let out = this.bn1.forward(this.conv1.forward(x), { relu: true });
    out = this.bn2.forward(this.conv2.forward(out), { relu: true });
    out = this.bn3.forward(this.conv3.forward(out));
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return addRelu(out, identity);  // relu(add(out, identity)) in one kernel (test/model-parity checks the two agree)
  }
}

export interface ResNetOutput {
  /** Outputs of the requested stages (1–4), in the order asked. */
  taps: Tensor[];
  /** Global-average-pooled stage-4 features [N, 2048]. */
  pooled: Tensor;
  /** The head's output [N, dim], or pooled when head is 'none'. */
  out: Tensor;
}

export class ResNet50 extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly maxpool = new MaxPool2d(3, 2, 1);
  readonly stages: Sequential[];
  readonly avgpool = new GlobalAvgPool();
  readonly fc: Module & { forward(x: Tensor): Tensor };
  readonly options: Required<Omit<ResNet50Options, 'backend'>> & { backend?: BackendName };

  /**
   * Builds the model and draws its initial weights on the JS thread (about 1–3 s for ResNet-50 at
   * full width, during which the event loop is blocked): services use `await ResNet50.create(opts)`,
   * which gives the same values. `init` overrides where the weights come from (src/nn/init.ts).
   */
  constructor(opts: ResNet50Options = {}, init?: WeightInit) {
    super();
    const o = {
      inChannels: opts.inChannels ?? 1,
      head: opts.head ?? 'mlp',
      dim: opts.dim ?? 128,
      hidden: opts.hidden ?? 2048,
      layers: opts.layers ?? [3, 4, 6, 3],
      width: opts.width ?? 64,
      seed: opts.seed ?? 0,
      backend: opts.backend,
      dtype: opts.dtype ?? 'float32',
    };
    this.options = o as ResNet50Options & typeof o;
    const weights = init ?? new RngInit(new Rng(o.seed));
    const init_ = { init: weights, backend: o.backend };
    this.conv1 = this.registerModule('conv1', new Conv2d(o.inChannels, o.width, 7, { ...init_, stride: 2, padding: 3 }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(o.width, init_));
    let inplanes = o.width;
    this.stages = o.layers.map((blocks, i) => {
      const planes = o.width * 2 ** i;
      const stride = i === 0 ? 1 : 2;
      const list: Bottleneck[] = [];
      for (let b = 0; b < blocks; b++) {
        list.push(new Bottleneck(inplanes, planes, b === 0 ? stride : 1, b === 0 && (stride !== 1 || inplanes !== planes * 4), weights, o.backend));
        inplanes = planes * 4;
      }
      return this.registerModule(`layer${i + 1}`, new Sequential(...list));
    });
    if (o.head === 'linear') this.fc = this.registerModule('fc', new Linear(inplanes, o.dim, init_));
    else if (o.head === 'mlp') {
      this.fc = this.registerModule('fc', new Sequential(new Linear(inplanes, o.hidden, init_), new ReLU(), new Linear(o.hidden, o.dim, init_)));
    } else this.fc = new Sequential();
  }

  /**
   * The model of `new ResNet50(opts)`, the same weights bit for bit, with the weights drawn on a
   * helper thread: the event loop stays free while it builds.
   */
  static async create(opts: ResNet50Options = {}): Promise<ResNet50> {
    const init = new DeferredInit();
    const model = new ResNet50(opts, init);
    try {
      await init.fill(model.options.seed);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  }

  /** Runs the network; taps lists the stages (1–4) whose outputs to return too. */
  forwardWithTaps(x: Tensor, taps: number[] = []): ResNetOutput {
    for (const t of taps) {
      if (!Number.isInteger(t) || t < 1 || t > 4) throw new RangeError(`ResNet50: tap ${t} is not a stage (1–4)`);
    }
    const dt = this.options.dtype;
    let h = this.maxpool.forward(this.bn1.forward(this.conv1.forward(x.dtype === dt ? x : cast(x, dt)), { relu: true }));
    const outs: Tensor[] = [];
    this.stages.forEach((stage) => {
      h = stage.forward(h);
      outs.push(h);
    });
    const pooledDt = this.avgpool.forward(h);
    const pooled = pooledDt.dtype === 'float32' ? pooledDt : cast(pooledDt, 'float32');
    const out = this.options.head === 'none' ? pooled : this.fc.forward(pooled);
    return { taps: taps.map((t) => outs[t - 1]), pooled, out };
  }

  forward(x: Tensor): Tensor {
    return this.forwardWithTaps(x).out;
  }
}
