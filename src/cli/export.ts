// `ifa-ssl export --init CKPT --out encoder.safetensors [--head]`: the trained encoder alone, for
// PyTorch and for `ifa-ssl embed`. A run's checkpoint also holds what only resuming needs (MoCo's key
// encoder, the SGD momenta, the queue: about 70% of a MoCo file); the export keeps the encoder under
// torchvision's names (conv weights O,I,H,W, BatchNorm statistics and num_batches_tracked), without
// the projection head (`fc.*`) unless --head, plus the run's config in the metadata.
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { writeSafetensorsAsync } from '../io/safetensors.js';
import { STATE_PREFIX, firstNonFinite, readAnyCheckpoint } from '../train/checkpoint.js';

export const EXPORT_FORMAT = 'ifa-ssl-encoder-1';

export const EXPORT_USAGE = `usage: ifa-ssl export --init CKPT --out FILE.safetensors [--head]
Writes the encoder of a checkpoint (ifa-ssl .safetensors or PyTorch .pth/.pth.tar) alone: torchvision's
names and layout (PyTorch: load_state_dict(load_file(FILE), strict=False) into resnet50 with a
1-channel conv1 reports only fc missing), loadable by ifa-ssl embed --init FILE.
  --head   keep the projection head (fc.*) too (embed --layer head needs it)
`;

export async function exportCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { init: { type: 'string' }, out: { type: 'string' }, head: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    process.stderr.write(`ifa-ssl export: ${(e as Error).message}\n${EXPORT_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(EXPORT_USAGE);
    return 0;
  }
  if (!values.init || !values.out) {
    process.stderr.write(`ifa-ssl export: ${!values.init ? '--init CKPT' : '--out FILE.safetensors'} is required\n${EXPORT_USAGE}`);
    return 2;
  }
  if (!/\.safetensors$/i.test(values.out)) {
    process.stderr.write(`ifa-ssl export: --out ${values.out}: the export is a safetensors file; name it FILE.safetensors\n`);
    return 2;
  }
  const ck = readAnyCheckpoint(values.init);
  const keep = Object.entries(ck.records).filter(([k]) => !k.startsWith(STATE_PREFIX) && (values.head || !(k === 'fc' || k.startsWith('fc.'))));
  if (!keep.some(([k]) => k === 'conv1.weight')) {
    process.stderr.write(`ifa-ssl export: ${values.init} has no conv1.weight; it is not a ResNet encoder checkpoint\n`);
    return 1;
  }
  if (values.head && !keep.some(([k]) => k.startsWith('fc.'))) {
    process.stderr.write(`ifa-ssl export: ${values.init} has no projection head (fc.*); leave out --head\n`);
    return 1;
  }
  const tensors = Object.fromEntries(keep);
  const bad = firstNonFinite(tensors);
  if (bad) {
    process.stderr.write(`ifa-ssl export: ${values.init} holds a non-finite weight (${bad}); it comes from a diverged run — use an earlier checkpoint\n`);
    return 1;
  }
  const metadata: Record<string, string> = { format: EXPORT_FORMAT, source: values.init, head: values.head ? 'yes' : 'no' };
  if (ck.metadata.config !== undefined) metadata.config = ck.metadata.config;
  if (ck.metadata.step !== undefined) metadata.step = ck.metadata.step;
  await writeSafetensorsAsync(values.out, tensors, metadata);
  const mb = (p: string) => (statSync(p).size / 2 ** 20).toFixed(1);
  process.stdout.write(`export: ${values.out}: ${keep.length} tensors of the encoder${values.head ? ' and its head' : ''} (${mb(values.out)} MiB; ${values.init} is ${mb(values.init)} MiB)\n`);
  return 0;
}
