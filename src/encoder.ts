// Encoder: a trained encoder as a Node service uses it. load() reads the checkpoint on the helper
// thread (src/core/offload.ts) and builds the model without drawing weights it is about to
// overwrite; embed() decodes and preprocesses each image on that thread as training does (resize,
// 99th-percentile clip, min-max, normalise), runs batches in eval mode inside tidy(), and returns
// plain Float32Arrays — no tensor outlives a call. dispose() frees the weights; emptyCache()
// (src/core/memory.ts) gives the allocators' cached blocks back.
import type { BackendName } from './backends/backend.js';
import { getBackend, getDefaultBackend, initBackend } from './backends/registry.js';
import { noGrad, tidy } from './core/engine.js';
import { offload } from './core/offload.js';
import { tensor } from './core/tensor.js';
import type { GrayImage } from './data/image.js';
import { CXR_DEFAULTS, type PreprocessOptions } from './data/preprocess.js';
import type { TensorRecord } from './io/types.js';
import { DeferredInit } from './nn/init.js';
import { ResNet50, type ResNet50Options } from './nn/models/resnet50.js';
import { STATE_PREFIX, importModule, metadataJson, readAnyCheckpointAsync } from './train/checkpoint.js';

export interface EncoderLoadOptions {
  /** Backend the model runs on (default: the current default backend). */
  backend?: BackendName;
  /** Input side S; default the checkpoint's config.imageSize, else 512 (the paper's). */
  imageSize?: number;
  /** Images per forward pass in embed() (default 8). */
  batchSize?: number;
}

/** A path to a PNG/JPEG/DICOM file, the file's bytes, or an already decoded grey image. */
export type EncoderInput = string | Uint8Array | GrayImage;

export interface EmbedOptions {
  /** 'pool': the 2048-d global-average-pooled features (default); 'head': the projection head's output. */
  layer?: 'pool' | 'head';
}

export class Encoder {
  private disposed = false;

  private constructor(
    readonly model: ResNet50,
    readonly path: string,
    readonly backend: BackendName,
    readonly imageSize: number,
    readonly batchSize: number,
    /** Encoder keys the checkpoint lacked (they keep the seeded initial values). */
    readonly missing: string[],
  ) {}

  /** Loads an ifa-ssl checkpoint, a torchvision-named safetensors file or a PyTorch .pth/.pth.tar. */
  static async load(path: string, opts: EncoderLoadOptions = {}): Promise<Encoder> {
    const backend = opts.backend ?? getDefaultBackend();
    await initBackend(backend);
    getBackend(backend); // throws with the reason when the backend is unavailable
    const batchSize = opts.batchSize ?? 8;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`Encoder.load: batchSize must be a positive integer, got ${batchSize}`);
    const ck = await readAnyCheckpointAsync(path);
    if (ck.nonFinite.encoder) throw new Error(`${path} holds a non-finite weight (${ck.nonFinite.encoder}); it comes from a diverged run — use an earlier checkpoint`);
    const records = Object.fromEntries(Object.entries(ck.records).filter(([k]) => !k.startsWith(STATE_PREFIX)));
    const mo = modelOptionsFor(records, ck.metadata, path);
    const imageSize = opts.imageSize ?? mo.imageSize ?? 512;
    if (!Number.isInteger(imageSize) || imageSize < 32) throw new RangeError(`Encoder.load: imageSize must be an integer ≥ 32, got ${imageSize}`);
    delete mo.imageSize;
    // Weights are drawn only when the checkpoint leaves some out (they keep the seeded initial values).
    const init = new DeferredInit();
    const model = new ResNet50({ ...mo, backend }, init);
    try {
      if ([...model.stateDict().keys()].some((k) => !(k in records))) await init.fill(model.options.seed);
      const { missing } = await importModule(model, records);
      model.eval();
      return new Encoder(model, path, backend, imageSize, batchSize, missing);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  /** Output length of embed() for a layer. */
  dim(layer: 'pool' | 'head' = 'pool'): number {
    const o = this.model.options;
    return layer === 'pool' || o.head === 'none' ? o.width * 32 : o.dim;
  }

  /** Features of one image, or of each image of a list (in order), as Float32Arrays. */
  embed(input: EncoderInput, opts?: EmbedOptions): Promise<Float32Array>;
  embed(inputs: EncoderInput[], opts?: EmbedOptions): Promise<Float32Array[]>;
  async embed(input: EncoderInput | EncoderInput[], opts: EmbedOptions = {}): Promise<Float32Array | Float32Array[]> {
    const layer = opts.layer ?? 'pool';
    if (layer !== 'pool' && layer !== 'head') throw new RangeError(`Encoder.embed: layer must be 'pool' or 'head', got ${JSON.stringify(layer)}`);
    if (layer === 'head' && this.model.options.head === 'none') throw new RangeError(`Encoder.embed: ${this.path} has no projection head (fc); use layer 'pool'`);
    const list = Array.isArray(input) ? input : [input];
    const out: Float32Array[] = [];
    for (let i = 0; i < list.length; i += this.batchSize) out.push(...(await this.embedBatch(list.slice(i, i + this.batchSize), layer)));
    return Array.isArray(input) ? out : out[0];
  }

  private async embedBatch(inputs: EncoderInput[], layer: 'pool' | 'head'): Promise<Float32Array[]> {
    this.check();
    const S = this.imageSize, px = S * S, C = this.model.options.inChannels;
    const images = await Promise.all(inputs.map((x) => preprocessOffThread(x, S)));
    this.check(); // disposed while the images were being prepared
    const data = new Float32Array(inputs.length * px * C);
    images.forEach((img, n) => {
      if (C === 1) data.set(img, n * px);
      else for (let i = 0; i < px; i++) for (let c = 0; c < C; c++) data[(n * px + i) * C + c] = img[i];
    });
    const feats = tidy(() =>
      noGrad(() => {
        const r = this.model.forwardWithTaps(tensor(data, [inputs.length, S, S, C], { backend: this.backend }));
        return layer === 'pool' ? r.pooled : r.out;
      }),
    );
    let v: Float32Array;
    try {
      v = await feats.data();
    } finally {
      feats.dispose();
    }
    const d = v.length / inputs.length;
    return inputs.map((_, n) => v.slice(n * d, (n + 1) * d));
  }

  private check(): void {
    if (this.disposed) throw new Error(`Encoder (${this.path}) is disposed`);
  }

  /** Frees the model's weights; the encoder cannot embed afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }
}

function preprocessOffThread(x: EncoderInput, imageSize: number, normalize = true, clipPercentile?: number): Promise<Float32Array> {
  const o = { imageSize, clipPercentile, normalize };
  if (typeof x === 'string') return offload('preprocess', { path: x, ...o });
  if (x instanceof Uint8Array) return offload('preprocess', { bytes: x, ...o });
  if (x && typeof x === 'object' && x.data instanceof Float32Array && Number.isInteger(x.width) && Number.isInteger(x.height)) {
    return offload('preprocess', { image: { width: x.width, height: x.height, data: x.data }, ...o });
  }
  return Promise.reject(new TypeError('an image is a path, the bytes of a PNG/JPEG/DICOM file, or a {width, height, data: Float32Array} grey image'));
}

/**
 * preprocessCxr (resize, 99th-percentile clip, min-max to [0, 1]) on the helper thread, from a path,
 * encoded bytes or a decoded image (decoding there too); with `normalize`, also the mean/std
 * normalisation the encoder sees. The same values as the synchronous functions.
 */
export async function preprocessCxrAsync(input: EncoderInput, opts: PreprocessOptions & { normalize?: boolean } = {}): Promise<GrayImage> {
  const size = opts.imageSize ?? CXR_DEFAULTS.imageSize;
  const data = await preprocessOffThread(input, size, opts.normalize ?? false, opts.clipPercentile);
  return { width: size, height: size, data };
}

/** Model options from an ifa-ssl checkpoint's config, or inferred from a state dict's keys and shapes. */
export function modelOptionsFor(records: Record<string, TensorRecord>, metadata: Record<string, string>, path = 'the checkpoint'): ResNet50Options & { imageSize?: number } {
  const inferred = inferModelOptions(records);
  if (!metadata.config) return inferred;
  const c = metadataJson(path, metadata, 'config') as Record<string, unknown> | null;
  if (!c || typeof c !== 'object') throw new Error(`${path}: metadata field 'config' must be a JSON object`);
  // The stored config must describe the tensors that are there (a damaged one would build another model).
  for (const field of ['inChannels', 'width', 'layers', 'hidden', 'dim'] as const) {
    if (c[field] === undefined || inferred[field] === undefined) continue;
    if (JSON.stringify(c[field]) !== JSON.stringify(inferred[field])) {
      throw new Error(`${path}: metadata config.${field} is ${JSON.stringify(c[field])} but the tensors say ${JSON.stringify(inferred[field])}; the file is damaged or was edited`);
    }
  }
  const imageSize = c.imageSize;
  if (imageSize !== undefined && !(Number.isInteger(imageSize) && (imageSize as number) >= 32 && (imageSize as number) <= 2048)) {
    throw new Error(`${path}: metadata config.imageSize must be an integer in [32, 2048], got ${JSON.stringify(imageSize)}`);
  }
  return { ...inferred, imageSize: imageSize as number | undefined };
}

function inferModelOptions(records: Record<string, TensorRecord>): ResNet50Options {
  const conv1 = records['conv1.weight'];
  if (!conv1) throw new Error("the checkpoint has no conv1.weight: is it a ResNet state dict?");
  const layers = [1, 2, 3, 4].map((s) => {
    let n = 0;
    while (records[`layer${s}.${n}.conv1.weight`]) n++;
    return n;
  }) as [number, number, number, number];
  const opts: ResNet50Options = { inChannels: conv1.shape[1], width: conv1.shape[0], layers };
  if (records['fc.0.weight'] && records['fc.2.weight']) Object.assign(opts, { head: 'mlp', hidden: records['fc.0.weight'].shape[0], dim: records['fc.2.weight'].shape[0] });
  else if (records['fc.weight']) Object.assign(opts, { head: 'linear', dim: records['fc.weight'].shape[0] });
  else opts.head = 'none';
  return opts;
}
