// `ifa-ssl bench <ifa|conv|bn>`, `ifa-ssl bench step` and `ifa-ssl bench data`: flags onto the
// benches of src/bench, one JSON object per run (--json) or a line of text.
import { parseArgs } from 'node:util';
import type { BackendName } from '../backends/backend.js';
import { BACKEND_NAMES } from '../backends/backend.js';
import { checkDType } from '../core/dtype.js';
import { setCpuThreads } from '../core/threads.js';
import { PRESET_NAMES, type PresetName } from '../data/augment.js';
import { RESNET50_CONV_LAYERS, runBench, type BenchSpec } from '../bench/ops.js';

function intList(v: string, what: string): number[] {
  const parts = v.split(',').map((s) => Number(s.trim()));
  if (!parts.length || parts.some((d) => !Number.isInteger(d) || d < 1)) throw new RangeError(`${what} must be positive integers separated by commas, got '${v}'`);
  return parts;
}

function positiveInt(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer, got '${v}'`);
  return n;
}

export const BENCH_USAGE = `usage: ifa-ssl bench <ifa|conv|bn> [--backend cpu|cuda|webgpu] [--shape N,H,W,C]
                    [--kernel K --stride S --cout C | --layer NAME [--batch N]] [--pass forward|both]
                    [--dtype float32|bfloat16|float16] [--tf32]
                    [--iters n] [--warmup n] [--reps n] [--threads n] [--progress] [--json]
       ifa-ssl bench step [--method moco|simclr] [--ifa B:T:W | --no-ifa] [--image-size 64] [--batch 8]
                    [--queue K] [--backend cpu|cuda|webgpu] [--steps 20] [--warmup 3] [--json]
                    (one whole training step: ifa-ssl bench step --help)
       ifa-ssl bench data [--image-size 512] [--preset default|easy|paper|none] [--workers N] [--json]
  ifa   IFA loss on features q, p of shape N,H,W,C (default 16,8,8,1024)
  bn    BatchNorm + ReLU, training mode (default 8,56,56,256)
  conv  convolution, padding K/2 (default input 8,56,56,64, K 3, stride 1, cout = C); --layer picks
        a ResNet-50 layer at batch --batch (default 128): ${Object.entries(RESNET50_CONV_LAYERS)
          .map(([k, l]) => `${k} (${l.title})`)
          .join(',\n        ')}
        or conv1 (alias stem): the model's own 1-channel stem 7×7 s2 1→64 at 512² (batch --batch,
        default 8)
  data  two-view pairs/s of the chest-radiograph loader (cached preprocessed images, augmentation)
  --progress prints each warmup and timed iteration on stderr (printed anyway once one takes ≥ 2 s)
  --trace FILE  (every bench) a Chrome trace-event JSON of the run (ui.perfetto.dev); ifa-ssl profile
        bench … prints the per-kernel table
  conv --dtype bfloat16|float16 runs x, w and dy in that dtype (the weight gradient is float32);
  --tf32 lets float32 convolutions read their operands as TF32 (both: the CUDA tensor cores).
  --pass both (default) times the forward pass and all gradients together. bytes is the floor the
  work must move: IFA 3N·4 with the gradient (2N·4 forward), BN 8N·4 (3N·4 forward; anchor_bytes
  gives the anchor's 5N·4); conv flops are 2·N·Ho·Wo·Cout·Cin·K² forward, 3× that with the gradients.
  On cuda each of the --iters samples times --reps iterations enqueued back to back between CUDA
  events (default: enough for ≥ 2 ms, at most 10; bench/torch/cuda_ops.py uses the same rule).
`;

export async function benchCommand(argv: string[]): Promise<number> {
  if (argv[0] === 'data') return dataBenchCommand(argv.slice(1));
  if (argv[0] === 'step') return stepBenchCommand(argv.slice(1));
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      backend: { type: 'string', default: 'cpu' },
      shape: { type: 'string' },
      kernel: { type: 'string' },
      stride: { type: 'string' },
      cout: { type: 'string' },
      layer: { type: 'string' },
      batch: { type: 'string' },
      pass: { type: 'string', default: 'both' },
      iters: { type: 'string' },
      warmup: { type: 'string' },
      reps: { type: 'string' },
      threads: { type: 'string' },
      dtype: { type: 'string' },
      tf32: { type: 'boolean' },
      progress: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const bench = positionals[0];
  // --layer conv1 (or stem): the model's own 1-channel stem (conv1 7×7 s2, 1→64) at the default image
  // size 512, batch --batch (default 8): what a radiograph run executes. (conv1_rgb and conv1_1ch are
  // the anchors' 224² layers, named as in bench/gpu and bench/torch.)
  if (values.layer === 'conv1' || values.layer === 'stem') {
    if (values.shape || values.kernel || values.stride || values.cout) throw new RangeError(`--layer ${values.layer} sets the shape, kernel, stride and cout: give --batch, not --shape/--kernel/--stride/--cout`);
    values.shape = `${positiveInt(values.batch, '--batch') ?? 8},512,512,1`;
    Object.assign(values, { kernel: '7', stride: '2', cout: '64', layer: undefined, batch: undefined });
  }
  // Progress on stderr: with --progress, or by itself once an iteration has taken 2 s or more.
  let lastIteration = performance.now();
  const onProgress = (phase: 'warmup' | 'timed', done: number, total: number): void => {
    const now = performance.now();
    if (values.progress || now - lastIteration >= 2000) process.stderr.write(`bench ${bench}: ${phase} ${done}/${total} (${((now - lastIteration) / 1000).toFixed(2)} s)\n`);
    lastIteration = now;
  };
  if (positionals.length !== 1 || !['ifa', 'conv', 'bn'].includes(bench)) {
    process.stderr.write(`ifa-ssl bench: expected one of ifa, conv, bn, step, data\n${BENCH_USAGE}`);
    return 2;
  }
  if (!(BACKEND_NAMES as readonly string[]).includes(values.backend!)) throw new RangeError(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got '${values.backend}'`);
  if (values.pass !== 'forward' && values.pass !== 'both') throw new RangeError(`--pass must be forward or both, got '${values.pass}'`);
  const shape = values.shape ? intList(values.shape, '--shape') : undefined;
  if (shape && shape.length !== 4) throw new RangeError(`--shape must have 4 dimensions N,H,W,C, got ${shape.length}`);
  const threads = positiveInt(values.threads, '--threads');
  if (threads !== undefined) setCpuThreads(threads);
  const r = await runBench({
    bench: bench as BenchSpec['bench'],
    backend: values.backend as BackendName,
    shape,
    pass: values.pass,
    iters: positiveInt(values.iters, '--iters'),
    warmup: positiveInt(values.warmup, '--warmup'),
    kernel: positiveInt(values.kernel, '--kernel'),
    stride: positiveInt(values.stride, '--stride'),
    cout: positiveInt(values.cout, '--cout'),
    layer: values.layer,
    batch: positiveInt(values.batch, '--batch'),
    reps: positiveInt(values.reps, '--reps'),
    dtype: values.dtype === undefined ? undefined : checkDType(values.dtype, '--dtype'),
    tf32: values.tf32,
    onProgress,
  });
  if (values.json) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    const flops = r.GFLOPs === null ? '' : `, ${r.GFLOPs} GFLOP/s`;
    process.stdout.write(`${r.bench} ${r.pass} on ${r.backend} [${r.shape}]: median ${r.median_ms} ms (min ${r.min_ms} ms), ${r.GBps} GB/s${flops}\n`);
  }
  return 0;
}

export const DATA_BENCH_USAGE = `usage: ifa-ssl bench data [--data DIR|FILE.csv] [--image-size 512] [--preset default|easy|paper|none] [--workers N]
                        [--batch-size 32] [--pairs 1024] [--images 64] [--backend cpu] [--output tensor|array]
                        [--augment-device cpu|cuda|webgpu] [--json]
Two-view pairs per second from the loader, read from the preprocessed cache: synthetic radiographs
(--images of them), or the images of --data (a folder or a CSV manifest; one untimed pass decodes
them into the cache first). CPU time per pair is the whole process's. --augment-device cuda|webgpu
makes the views on that backend (the workers only read the 16-bit cache and draw the plans; a batch
counts once the device has made it) and also times one batch's device augmentation alone.
`;

/** The `ifa-ssl bench data` command. */
export async function dataBenchCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(DATA_BENCH_USAGE);
    return 0;
  }
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      data: { type: 'string' },
      'image-size': { type: 'string' },
      preset: { type: 'string' },
      workers: { type: 'string' },
      'batch-size': { type: 'string' },
      pairs: { type: 'string' },
      images: { type: 'string' },
      backend: { type: 'string' },
      output: { type: 'string' },
      'augment-device': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const int = (v: string | undefined, what: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer, got '${v}'`);
    return n;
  };
  if (values.preset !== undefined && !(PRESET_NAMES as readonly string[]).includes(values.preset)) throw new RangeError(`--preset must be one of ${PRESET_NAMES.join(', ')}, got '${values.preset}'`);
  if (values.output !== undefined && values.output !== 'tensor' && values.output !== 'array') throw new RangeError(`--output must be tensor or array, got '${values.output}'`);
  const device = values['augment-device'];
  if (device !== undefined && !(BACKEND_NAMES as readonly string[]).includes(device)) throw new RangeError(`--augment-device must be one of ${BACKEND_NAMES.join(', ')}, got '${device}'`);
  const { benchData } = await import('../bench/data.js');
  const r = await benchData({
    data: values.data,
    imageSize: int(values['image-size'], '--image-size'),
    preset: values.preset as PresetName | undefined,
    workers: int(values.workers, '--workers'),
    batchSize: int(values['batch-size'], '--batch-size'),
    pairs: int(values.pairs, '--pairs'),
    images: int(values.images, '--images'),
    backend: values.backend as BackendName | undefined,
    output: values.output as 'tensor' | 'array' | undefined,
    augmentDevice: values['augment-device'] as BackendName | undefined,
  });
  if (values.json) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    process.stdout.write(
      `data ${r.image_size}×${r.image_size} preset=${r.preset} workers=${r.workers} batch=${r.batch_size} (${r.output}, augmented on ${r.augment_device === 'cpu' ? `the cpu, ${r.augment_kernels} kernels` : r.augment_device}): ` +
        `${r.pairs_per_s.toFixed(1)} pairs/s, ${r.pairs_per_s_per_core.toFixed(1)} pairs/s/core, ${r.pairs_per_cpu_s.toFixed(1)} pairs per CPU-second (${r.cpu_ms_per_pair.toFixed(2)} CPU ms a pair); ` +
        `${r.cores_per_gpu.toFixed(1)} cores feed ${r.gpu_images_per_s} img/s` +
        (r.device_ms_per_batch === null ? '' : `; device augmentation ${r.device_ms_per_batch.toFixed(2)} ms a batch of ${r.batch_size} pairs`) +
        '\n',
    );
  }
  return 0;
}

export const STEP_BENCH_USAGE = `usage: ifa-ssl bench step [--method moco|simclr] [--ifa B:T:W]... [--no-ifa] [--image-size 64] [--batch 8]
                        [--queue 65536] [--backend cpu|cuda|webgpu] [--steps 20] [--warmup 3] [--threads n]
                        [--layers 3,4,6,3] [--width 64] [--precision fp32|tf32|bf16|fp16] [--graph off] [--json]
One whole training step of the trainer (ResNet-50, 1-channel input, MLP head 2048→2048→128; MoCo v2
with queue K, m 0.999, T 0.2, or SimCLR at T 0.1; IFA on block 3 towards 1 unless --ifa/--no-ifa;
SGD momentum 0.9, wd 1e-4, lr 0.03 per 256 on the cosine schedule), on fixed inputs, in steady state:
median ms per step over --steps timed steps after --warmup untimed ones, img/s from the median, host
ms (until the step's kernels are enqueued, before awaiting its losses), peak backend memory (live
bytes, sampled at every kernel call) and kernels per step. --precision as the trainer's (default tf32
on CUDA sm_80+, else fp32; bf16 and fp16 are mixed precision, fp16 with dynamic loss scaling);
--graph takes only off for now (CUDA graphs are issue 15 item 4).
bench/torch/step.py runs the same step in PyTorch; node dist/bench/step-vs-torch.js compares them.
`;

/** The `ifa-ssl bench step` command. */
export async function stepBenchCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(STEP_BENCH_USAGE);
    return 0;
  }
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      method: { type: 'string', default: 'moco' },
      ifa: { type: 'string', multiple: true },
      'no-ifa': { type: 'boolean', default: false },
      'image-size': { type: 'string' },
      batch: { type: 'string' },
      queue: { type: 'string' },
      backend: { type: 'string', default: 'cpu' },
      steps: { type: 'string' },
      warmup: { type: 'string' },
      threads: { type: 'string' },
      layers: { type: 'string' },
      width: { type: 'string' },
      precision: { type: 'string' },
      graph: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length) throw new RangeError(`ifa-ssl bench step: unexpected argument '${positionals[0]}'`);
  const { benchStep, checkStepModes } = await import('../bench/step.js');
  checkStepModes(values.precision, values.graph);
  if (values.method !== 'moco' && values.method !== 'simclr') throw new RangeError(`--method must be moco or simclr, got '${values.method}'`);
  if (!(BACKEND_NAMES as readonly string[]).includes(values.backend!)) throw new RangeError(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got '${values.backend}'`);
  if (values['no-ifa'] && values.ifa) throw new RangeError('--no-ifa and --ifa exclude each other');
  if (values.queue !== undefined && values.method !== 'moco') throw new RangeError('--queue applies to --method moco only');
  const layers = values.layers === undefined ? undefined : intList(values.layers, '--layers');
  if (layers && layers.length !== 4) throw new RangeError(`--layers must give 4 stage depths, got ${layers.length}`);
  const warmup = values.warmup === undefined ? undefined : Number(values.warmup);
  if (warmup !== undefined && (!Number.isInteger(warmup) || warmup < 0)) throw new RangeError(`--warmup must be an integer ≥ 0, got '${values.warmup}'`);
  const steps = positiveInt(values.steps, '--steps');
  const { parseIfaFlag } = await import('./flags.js');
  const r = await benchStep({
    config: {
      method: values.method,
      imageSize: positiveInt(values['image-size'], '--image-size') ?? 64,
      batch: positiveInt(values.batch, '--batch') ?? 8,
      ...(values.queue !== undefined ? { queueSize: positiveInt(values.queue, '--queue') } : {}),
      backend: values.backend as BackendName,
      ...(values['no-ifa'] ? { ifa: [] } : values.ifa ? { ifa: values.ifa.map(parseIfaFlag) } : {}),
      ...(layers ? { layers: layers as [number, number, number, number] } : {}),
      ...(values.width !== undefined ? { width: positiveInt(values.width, '--width') } : {}),
      threads: positiveInt(values.threads, '--threads'),
    },
    steps,
    warmup,
    precision: values.precision,
    graph: values.graph,
  });
  if (values.json) process.stdout.write(JSON.stringify(r) + '\n');
  else {
    const ifa = r.ifa.length ? ` + IFA ${r.ifa.map((t) => `block ${t.block}→${t.target}×${t.weight}`).join(', ')}` : '';
    process.stdout.write(
      `step ${r.method}${ifa} on ${r.backend}, ${r.image_size}×${r.image_size} batch ${r.batch}${r.queue !== null ? ` queue ${r.queue}` : ''}: ` +
        `median ${r.median_ms} ms (min ${r.min_ms} ms) over ${r.steps} steps, ${r.img_per_s} img/s, host ${r.host_ms} ms, ` +
        `peak ${(r.peak_bytes / 2 ** 20).toFixed(1)} MiB, ${r.kernels_per_step} kernels per step\n`,
    );
  }
  return 0;
}
