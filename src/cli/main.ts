// The ifa-ssl command line. Each command is a function returning an exit code.
import { parseArgs } from 'node:util';
import { info } from '../info.js';

const USAGE = `usage: ifa-ssl <command> [options]

commands:
  info [--json]     version, build (CUDA compiled in, architectures) and each backend's status
  demo              MoCo v2 + IFA on synthetic radiographs on the CPU, a minute or two (npm start)
  pretrain [--config FILE] [flags]
                    MoCo v2 / SimCLR (+ IFA) pretraining (ifa-ssl pretrain --help)
  finetune [--init CKPT] --data CSV|FOLDER|synthetic [--task multilabel|multiclass] [--linear]
                    fine-tune the whole network or a linear probe on labelled images (ifa-ssl finetune --help)
  evaluate --init CKPT --data CSV|FOLDER [--out DIR]
                    predictions, report (AUC + DeLong CIs, P/R/F1, confusion matrix) and ROC curves
  embed --init CKPT [--layer pool|head] IMAGE... [--json]
                    encoder features of images, one JSON line each
  compare A.jsonl B.jsonl | --a A1,A2,... --b B1,B2,... [--json] [--out DIR]
                    paired DeLong / Stuart–Maxwell tests of two models' predictions, or mean ± SD
                    and a paired t-test over repeated runs (ifa-ssl compare --help)
  export --init CKPT --out FILE.safetensors [--head]
                    the encoder alone (torchvision names), for PyTorch and embed
  bench <ifa|conv|bn> [--backend B] [--shape N,H,W,C] [--pass forward|both] [--json]
                    time one op (see ifa-ssl bench --help)
  bench step [--method moco|simclr] [--image-size 64] [--batch 8] [--backend B] [--json]
                    time one whole training step (see ifa-ssl bench step --help)
  bench data [--data DIR] [--image-size 512] [--preset default|easy|paper|none] [--workers N] [--json]
                    two-view pairs/s of the chest-radiograph data loader
  profile [--json] <bench …|pretrain …|finetune …>
                    the command's steps kernel by kernel: time, share, bytes, FLOPs, GB/s, TFLOP/s
                    and roofline fraction (ifa-ssl profile --help)
  --trace FILE      (pretrain, finetune, bench) write a Chrome trace-event JSON of every op, kernel,
                    data-loader worker and checkpoint write; open it in ui.perfetto.dev
  help              this text
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'info':
      return infoCommand(rest);
    case 'demo':
      return (await import('./demo.js')).demo(rest);
    case 'pretrain':
    case 'finetune':
    case 'bench': {
      const { takeTraceFlag, withTrace } = await import('./trace.js');
      const { file, rest: args } = takeTraceFlag(rest, command);
      return withTrace(file, () => runTraceable(command, args));
    }
    case 'profile':
      return (await import('./trace.js')).profileCommand(rest, runTraceable);
    case 'evaluate':
      return (await import('./finetune.js')).evaluateCommand(rest);
    case 'embed':
      return (await import('./embed.js')).embedCommand(rest);
    case 'export':
      return (await import('./export.js')).exportCommand(rest);
    case 'compare':
      return (await import('./compare.js')).compareCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`ifa-ssl: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

/** The commands that --trace and profile run. */
async function runTraceable(command: string, argv: string[]): Promise<number> {
  if (command === 'pretrain') return (await import('./pretrain.js')).pretrainCommand(argv);
  if (command === 'finetune') return (await import('./finetune.js')).finetuneCommand(argv);
  if (command === 'bench') return (await import('./bench.js')).benchCommand(argv);
  throw new RangeError(`cannot trace '${command}': --trace and profile run pretrain, finetune and bench`);
}

async function infoCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write('usage: ifa-ssl info [--json]\n  version, build (CUDA compiled in, architectures) and each backend\'s status; --json as one object\n');
    return 0;
  }
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean', default: false } }, strict: true });
  const i = await info();
  if (values.json) {
    process.stdout.write(JSON.stringify(i, null, 2) + '\n');
    return 0;
  }
  const lines = [
    `ifa-ssl ${i.version} (node ${i.node})`,
    `addon: ${i.build.addon} (${i.build.buildSystem})`,
    `cuda: ${
      i.build.cuda.emulator
        ? 'the CUDA emulator (kernels/cuda/emu: the CUDA kernels run on the CPU; no GPU code)'
        : i.build.cuda.compiled
          ? `compiled in (CUDA ${i.build.cuda.toolkit}; ${i.build.cuda.architectures.join(' ')})`
          : 'not compiled in'
    }`,
    `cpu threads: ${i.build.cpuThreads}`,
    'backends:',
    ...i.backends.map((b) => `  ${b.name.padEnd(7)} ${b.available ? 'available  ' : 'unavailable'}  ${b.available ? (b.device ?? '') : (b.reason ?? '')}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
