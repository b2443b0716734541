// `ifa-ssl embed --init CKPT [--layer pool|head] IMAGE... [--json]`: the encoder as a service would use
// it. Each image is decoded, preprocessed as in training (resize, 99th-percentile clip, min-max,
// normalise), run through the encoder in eval mode, and printed as one JSON line with its features
// (the 2048-d pooled features by default, or the projection head's output).
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ImageFolder } from '../data/datasets.js';
import { setBackend } from '../backends/registry.js';
import type { BackendName } from '../backends/backend.js';
import { noGrad } from '../core/engine.js';
import { tensor } from '../core/tensor.js';
import { decodeFile } from '../data/decode.js';
import { normalize, preprocessCxr } from '../data/preprocess.js';
import type { TensorRecord } from '../io/types.js';
import { ResNet50, type ResNet50Options } from '../nn/models/resnet50.js';
import { STATE_PREFIX, firstNonFinite, importModule, metadataJson, readAnyCheckpoint } from '../train/checkpoint.js';

const USAGE = `usage: ifa-ssl embed --init CKPT [--layer pool|head] [--image-size S] [--backend B] [--json] IMAGE|DIR...\n  a folder stands for the images under it (.png .jpg .jpeg .dcm .dicom, recursively, in path order)\n`;

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

export async function embedCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      init: { type: 'string' },
      layer: { type: 'string', default: 'pool' },
      'image-size': { type: 'string' },
      backend: { type: 'string', default: 'cpu' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.init) {
    process.stderr.write(`ifa-ssl embed: --init CKPT is required\n${USAGE}`);
    return 2;
  }
  if (values.layer !== 'pool' && values.layer !== 'head') {
    process.stderr.write(`ifa-ssl embed: --layer must be pool or head, got '${values.layer}'\n`);
    return 2;
  }
  if (!positionals.length) {
    process.stderr.write(`ifa-ssl embed: no images given\n${USAGE}`);
    return 2;
  }
  // A folder stands for the image files under it, as pretrain's --data DIR reads them.
  const paths: string[] = [];
  for (const p of positionals) {
    let dir = false;
    try {
      dir = statSync(p).isDirectory();
    } catch {
      // reported below, by the read of the path itself
    }
    if (dir) {
      try {
        paths.push(...(await ImageFolder.open(p)).paths);
      } catch (e) {
        process.stderr.write(`ifa-ssl embed: ${p}: ${(e as Error).message.replace(/^ImageFolder: /, '')}\n`);
        return 1;
      }
    } else paths.push(p);
  }
  await setBackend(values.backend as BackendName);
  const ck = readAnyCheckpoint(values.init);
  const records = Object.fromEntries(Object.entries(ck.records).filter(([k]) => !k.startsWith(STATE_PREFIX)));
  const bad = firstNonFinite(records);
  if (bad) {
    process.stderr.write(`ifa-ssl embed: ${values.init} holds a non-finite weight (${bad}); it comes from a diverged run — use an earlier checkpoint\n`);
    return 1;
  }
  const opts = modelOptionsFor(records, ck.metadata, values.init);
  if (values.layer === 'head' && opts.head === 'none') {
    process.stderr.write('ifa-ssl embed: the checkpoint has no projection head (fc); use --layer pool\n');
    return 2;
  }
  const size = values['image-size'] ? Number(values['image-size']) : (opts.imageSize ?? 512);
  if (!Number.isInteger(size) || size < 32) throw new RangeError(`--image-size must be an integer ≥ 32, got ${values['image-size']}`);
  const model = new ResNet50({ ...opts, backend: values.backend as BackendName });
  const { missing } = await importModule(model, records);
  if (missing.length) process.stderr.write(`ifa-ssl embed: warning: the checkpoint lacks ${missing.length} keys (e.g. ${missing.slice(0, 3).join(', ')}); they keep their initial values\n`);
  model.eval();
  let failed = 0;
  try {
    for (const path of paths) {
      try {
        const img = normalize(preprocessCxr(await decodeFile(path), { imageSize: size }));
        const channels = opts.inChannels ?? 1;
        const data = new Float32Array(size * size * channels);
        for (let i = 0; i < size * size; i++) for (let c = 0; c < channels; c++) data[i * channels + c] = img.data[i];
        const x = tensor(data, [1, size, size, channels], { backend: values.backend as BackendName });
        const out = noGrad(() => model.forwardWithTaps(x));
        const feats = values.layer === 'pool' ? out.pooled : out.out;
        const v = await feats.data();
        for (const t of new Set([x, out.pooled, out.out])) t.dispose();
        if (values.json) process.stdout.write(JSON.stringify({ image: path, layer: values.layer, dim: v.length, features: Array.from(v) }) + '\n');
        else process.stdout.write(`${path}: ${v.length}-d ${values.layer} features, norm ${Math.hypot(...v).toFixed(4)}\n`);
      } catch (e) {
        failed++;
        const msg = (e as Error).message;
        if (values.json) process.stdout.write(JSON.stringify({ image: path, error: msg }) + '\n');
        // decode errors already start with the path; name it once
        process.stderr.write(`ifa-ssl embed: ${msg.startsWith(path) ? msg : `${path}: ${msg}`}\n`);
      }
    }
  } finally {
    model.dispose();
  }
  return failed ? 1 : 0;
}
