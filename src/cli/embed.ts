// `ifa-ssl embed --init CKPT [--layer pool|head] IMAGE... [--json]`: the encoder as a service would use
// it. Each image is decoded, preprocessed as in training (resize, 99th-percentile clip, min-max,
// normalise), run through the encoder in eval mode, and printed as one JSON line with its features
// (the 2048-d pooled features by default, or the projection head's output). It is the library's
// Encoder (src/encoder.ts), one image at a time.
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ImageFolder } from '../data/datasets.js';
import { setBackend } from '../backends/registry.js';
import type { BackendName } from '../backends/backend.js';
import { Encoder } from '../encoder.js';

const USAGE = `usage: ifa-ssl embed --init CKPT [--layer pool|head] [--image-size S] [--backend B] [--json] IMAGE|DIR...\n  a folder stands for the images under it (.png .jpg .jpeg .dcm .dicom, recursively, in path order)\n`;

export { modelOptionsFor } from '../encoder.js';

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
  const size = values['image-size'] ? Number(values['image-size']) : undefined;
  if (size !== undefined && (!Number.isInteger(size) || size < 32)) throw new RangeError(`--image-size must be an integer ≥ 32, got ${values['image-size']}`);
  let enc: Encoder;
  try {
    enc = await Encoder.load(values.init, { backend: values.backend as BackendName, imageSize: size, batchSize: 1 });
  } catch (e) {
    process.stderr.write(`ifa-ssl embed: ${(e as Error).message}\n`);
    return 1;
  }
  if (values.layer === 'head' && enc.model.options.head === 'none') {
    enc.dispose();
    process.stderr.write('ifa-ssl embed: the checkpoint has no projection head (fc); use --layer pool\n');
    return 2;
  }
  const { missing } = enc;
  if (missing.length) process.stderr.write(`ifa-ssl embed: warning: the checkpoint lacks ${missing.length} keys (e.g. ${missing.slice(0, 3).join(', ')}); they keep their initial values\n`);
  let failed = 0;
  try {
    // One image at a time, so that each gets its own line, or its own error.
    for (const path of paths) {
      try {
        const v = await enc.embed(path, { layer: values.layer });
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
    enc.dispose();
  }
  return failed ? 1 : 0;
}
