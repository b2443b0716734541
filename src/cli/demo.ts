// `ifa-ssl demo` (npm start): MoCo v2 + IFA (block 3) pretraining of ResNet-50 on synthetic chest
// radiographs, on the CPU, with small images and a small queue so it finishes in a minute or two
// here. It prints the loss as it falls and writes a checkpoint that `ifa-ssl embed --init` loads.
import { parseArgs } from 'node:util';
import { parseConfig, type ConfigInput } from './config.js';
import { runTraining } from './pretrain.js';

export const DEMO_CONFIG: ConfigInput = {
  method: 'moco',
  data: 'synthetic',
  syntheticImages: 64,
  imageSize: 64,
  augment: 'default',
  batch: 8,
  steps: 40,
  // A short run needs a livelier schedule than the paper's 0.03 per 256 over 200 epochs.
  lr: 0.6,
  mocoMomentum: 0.99,
  queueSize: 256,
  ifa: [{ block: 3, target: 1, weight: 1 }],
  backend: 'cpu',
  out: 'runs/demo',
  checkpointEvery: 20,
  seed: 0,
};

export async function demo(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { steps: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const cfg = parseConfig({
    ...DEMO_CONFIG,
    ...(values.steps !== undefined ? { steps: Number(values.steps) } : {}),
    ...(values.out !== undefined ? { out: values.out } : {}),
  });
  console.log(
    `demo: MoCo v2 + IFA (block 3 → 1) on synthetic chest radiographs: ResNet-50, ${cfg.imageSize}×${cfg.imageSize}, batch ${cfg.batch}, queue ${cfg.queueSize}, ${cfg.steps} steps on the CPU`,
  );
  const code = await runTraining(cfg, { quietEvery: 5 });
  console.log(`demo: checkpoint in ${cfg.out}/last.safetensors; metrics in ${cfg.out}/metrics.jsonl`);
  console.log(`      embed an image with: npx ifa-ssl embed --init ${cfg.out}/last.safetensors IMAGE.png --json`);
  return code;
}
