// bench/gpu: the verdicts of the issue-4 report (bench/gpu/table.ts) on made-up measurements, the
// parsers of what check.sh collects, and the bench pieces the GPU table relies on (ResNet-50 layer
// presets, conv FLOP counts, BN floor bytes, tiled bench inputs). No GPU needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BENCH_BLOCK, RESNET50_CONV_LAYERS, benchInput, prepareBench, resolveSpec } from '../src/cli/bench.js';
import { buildReport, check, parseJsonLines, parseSteps, parseTorch, type OursEntry, type Step, type TorchReport } from '../bench/gpu/table.js';

const IFA1 = [128, 14, 14, 1024];
const IFA2 = [32, 32, 32, 1024];
const BN = [128, 56, 56, 256];
const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
const COPY = 3000; // GB/s: floor_ms = bytes / 3e9

const floorMs = (n: number, shape: number[]) => (n * numel(shape) * 4) / (COPY * 1e6);

function torchReport(overrides: Partial<Record<string, number>> = {}): TorchReport {
  return {
    torch: '2.11.0',
    cuda: '13.0',
    cudnn: 91900,
    device: 'NVIDIA H100 80GB HBM3',
    copy: { GBps: COPY },
    results: [
      { work: 'ifa', variant: 'eager', shape: IFA1, pass: 'both', median_ms: overrides.ifa1eager ?? 1.5 },
      { work: 'ifa', variant: 'compile', shape: IFA1, pass: 'both', median_ms: overrides.ifa1compile ?? 0.576 },
      { work: 'ifa', variant: 'eager', shape: IFA2, pass: 'both', median_ms: 1.9 },
      { work: 'ifa', variant: 'compile', shape: IFA2, pass: 'both', median_ms: 1.22 },
      { work: 'bn', variant: 'eager', shape: BN, pass: 'both', median_ms: 2.13 },
      { work: 'conv', variant: 'cudnn-fp32', layer: 'conv1', shape: [128, 224, 224, 3], pass: 'both', median_ms: 9, TFLOPs: 10 },
      { work: 'conv', variant: 'cudnn-tf32', layer: 'conv1', shape: [128, 224, 224, 3], pass: 'both', median_ms: 4.5, TFLOPs: 20 },
    ],
  };
}

/** Our results at the given multiples of each floor. */
function ours(xIfa1: number, xIfa2: number, xBn: number): OursEntry[] {
  return [
    { bench: 'ifa', shape: IFA1, pass: 'both', median_ms: xIfa1 * floorMs(3, IFA1) },
    { bench: 'ifa', shape: IFA2, pass: 'both', median_ms: xIfa2 * floorMs(3, IFA2) },
    { bench: 'bn', shape: BN, pass: 'both', median_ms: xBn * floorMs(8, BN), anchor_bytes: 5 * numel(BN) * 4 },
    { bench: 'conv', shape: [128, 224, 224, 3], pass: 'both', layer: 'conv1', title: 'conv1 7×7 s2, 3→64 @224', median_ms: 18, TFLOPs: 5 },
  ];
}

const okSteps: Step[] = [
  { name: 'conformance', status: 'pass', seconds: 20, note: '71/71 passed, 0 skipped' },
  { name: 'memcheck', status: 'pass', seconds: 90, note: 'ERROR SUMMARY: 0 errors' },
  { name: 'control', status: 'pass', seconds: 3, note: 'the planted out-of-bounds read was reported' },
];

test('check: max and min bounds, and a missing value is NOT RUN with its reason', () => {
  assert.is(check(1.2, 1.25, 'max', '').verdict, 'PASS');
  assert.is(check(1.25, 1.25, 'max', '').verdict, 'PASS');
  assert.is(check(1.3, 1.25, 'max', '').verdict, 'FAIL');
  assert.is(check(4, 4, 'min', '').verdict, 'PASS');
  assert.is(check(3.9, 4, 'min', '').verdict, 'FAIL');
  const m = check(undefined, 4, 'min', 'no torch');
  assert.equal(m, { verdict: 'NOT RUN', detail: 'no torch' });
  assert.is(check(NaN, 4, 'min', 'x').verdict, 'NOT RUN');
});

test('every target met: PASS, exit 0, ratios in the table', () => {
  const r = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps });
  assert.is(r.overall, 'PASS', r.markdown);
  assert.is(r.exitCode, 0);
  assert.is(r.items.length, 9);
  assert.ok(r.items.every((i) => i.verdict === 'PASS'));
  assert.match(r.markdown, /# Issue 4 GPU check — PASS/);
  assert.match(r.markdown, /3000 GB\/s/);
  // IFA 1: ours 1.1 × 0.1028 ms = 0.113 ms; compile 0.576 ms → 5.10×.
  assert.match(r.markdown, /\| IFA 128×14×14×1024 fwd\+bwd \| 0\.113 \| 0\.103 \(3N\) \| 1\.10 \| PASS \| 1\.500 \| 0\.576 \| 13\.27 \| 5\.10 \| PASS \|/);
  // BN shows the anchor's 5N multiple beside the 8N one.
  assert.match(r.markdown, /1\.20 \(anchor's 5N: 1\.92×\)/);
  // conv: ours 5 TFLOP/s vs cuDNN fp32 10 → 0.50.
  assert.match(r.markdown, /\| conv1 7×7 s2, 3→64 @224 \| 128 \| — \| — \| — \| 5\.00 \| 10\.00 \| 20\.00 \| 0\.50 \| 18\.00 \|/);
});

test('one iteration per event pair: its own table, never a verdict', () => {
  const t = torchReport();
  for (const e of t.results!) if (e.work === 'ifa') e.single_ms = e.variant === 'compile' ? 0.6 : 1.6;
  // A --reps 1 entry listed before the reps-rule one, slower than the target allows: the verdict
  // must still come from the reps-rule entry.
  const single: OursEntry = { bench: 'ifa', shape: IFA1, pass: 'both', median_ms: 0.15, host_ms: 0.021, reps: 1, reps_fixed: true };
  const r = buildReport({ ours: [single, ...ours(1.1, 1.2, 1.2)], torch: t, steps: okSteps });
  assert.is(r.overall, 'PASS', r.markdown);
  assert.match(r.markdown, /## IFA timed one iteration per event pair/);
  // 0.6 / 0.15 = 4.00, 1.6 / 0.15 = 10.67; IFA 2 has no ifa-ssl single entry.
  assert.match(r.markdown, /\| IFA 128×14×14×1024 fwd\+bwd \| 0\.150 \| 0\.021 \| 1\.600 \| 0\.600 \| 10\.67 \| 4\.00 \|/);
  assert.match(r.markdown, /\| IFA 32×32×32×1024 fwd\+bwd \| — \| — \| 1\.600 \| 0\.600 \| — \| — \|/);
  // Without single timings the table is left out.
  assert.not.match(buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps }).markdown, /one iteration per event pair/);
});

test('--results: a bench/RESULTS.md section, headed by card and date, without the step list', () => {
  const r = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: [...okSteps, { name: 'torch', status: 'timeout', seconds: 200, note: 'cuda_ops.py exited with 124' }], meta: { date: '2026-12-01' }, results: true });
  assert.match(r.markdown, /^## Issue 4 on NVIDIA H100 80GB HBM3, 2026-12-01 — PASS\n/);
  assert.match(r.markdown, /\n### Acceptance\n/);
  assert.match(r.markdown, /\n### Convolution/);
  assert.not.match(r.markdown, /## Steps/);
  assert.match(r.markdown, /Steps that did not pass: torch \(timeout: cuda_ops\.py exited with 124\)/);
});

test('a target missed: FAIL, exit 1, and the item says by how much', () => {
  const slow = buildReport({ ours: ours(1.3, 1.1, 1.1), torch: torchReport(), steps: okSteps });
  assert.is(slow.overall, 'FAIL');
  assert.is(slow.exitCode, 1);
  const bad = slow.items.filter((i) => i.verdict === 'FAIL');
  assert.is(bad.length, 1);
  assert.match(bad[0].name, /IFA 128×14×14×1024 .*floor/);
  assert.match(bad[0].detail, /1\.30× \(target ≤ 1\.25×\)/);

  // Fast enough against the floor but torch.compile within 4×.
  const close = buildReport({ ours: ours(1.1, 1.1, 1.1), torch: torchReport({ ifa1compile: 0.3 }), steps: okSteps });
  const f = close.items.filter((i) => i.verdict === 'FAIL');
  assert.is(f.length, 1);
  assert.match(f[0].name, /torch\.compile/);

  // A failed sanitizer run fails the check whatever the speed.
  const dirty = buildReport({ ours: ours(1, 1, 1), torch: torchReport(), steps: [okSteps[0], { name: 'memcheck', status: 'fail', seconds: 80, note: 'ERROR SUMMARY: 3 errors' }] });
  assert.is(dirty.overall, 'FAIL');
  assert.match(dirty.markdown, /memcheck over the CUDA conformance suite \| FAIL \| fail: ERROR SUMMARY: 3 errors/);
});

test('no GPU: everything NOT RUN with the reason, exit 2', () => {
  const why = 'CUDA unavailable (the addon was built without CUDA)';
  const r = buildReport({
    ours: [
      { bench: 'ifa', shape: IFA1, pass: 'both', skipped: why },
      { bench: 'bn', shape: BN, pass: 'both', skipped: why },
    ],
    torch: { skipped: 'torch.cuda unavailable (torch 1.13.0, built for CUDA None)' },
    steps: [
      { name: 'conformance', status: 'skipped', seconds: 0, note: `skipped: ${why}` },
      { name: 'memcheck', status: 'skipped', seconds: 0, note: `skipped: ${why}` },
    ],
  });
  assert.is(r.overall, 'NOT VERIFIED');
  assert.is(r.exitCode, 2);
  assert.ok(r.items.every((i) => i.verdict === 'NOT RUN'), r.markdown);
  assert.match(r.items[3].detail, /ifa-ssl bench skipped: CUDA unavailable/);
  assert.match(r.items[5].detail, /ifa-ssl bench: not measured/); // IFA 2 has no line at all
  assert.match(r.markdown, /PyTorch: torch\.cuda unavailable/);
});

test('ours measured but PyTorch missing: floor items NOT RUN (no copy bandwidth), not PASS', () => {
  const r = buildReport({ ours: ours(1, 1, 1), torch: { error: 'cuda_ops.py exited with 1' }, steps: okSteps });
  assert.is(r.overall, 'NOT VERIFIED');
  assert.match(r.items[3].detail, /no copy bandwidth/);
  assert.match(r.items[4].detail, /PyTorch compile failed: cuda_ops\.py exited with 1/);
  // A bench that failed says so.
  const failed = buildReport({ ours: [{ bench: 'bn', shape: BN, pass: 'both', error: 'rc 1: out of CUDA memory' }], torch: torchReport(), steps: okSteps });
  assert.match(failed.items.find((i) => i.name.startsWith('BN') && i.name.includes('floor'))!.detail, /ifa-ssl bench failed: rc 1: out of CUDA memory/);
});

test('parsers: steps.tsv, JSON lines among noise, torch JSON after stray output', () => {
  assert.equal(parseSteps('conformance\tpass\t12\t71/71 passed\n\nmemcheck\tskipped\t0\tskipped: x\ty\n'), [
    { name: 'conformance', status: 'pass', seconds: 12, note: '71/71 passed' },
    { name: 'memcheck', status: 'skipped', seconds: 0, note: 'skipped: x y' },
  ]);
  const lines = parseJsonLines('Warning: x\n{"bench":"ifa","shape":[1]}\n{"bench": torn\n{"bench":"bn","shape":[2]}\n');
  assert.equal(
    lines.map((l) => l.bench),
    ['ifa', 'bn'],
  );
  assert.equal(parseTorch('some warning\n{"copy": {"GBps": 5}}')?.copy, { GBps: 5 });
  assert.is(parseTorch(''), null);
  assert.match(parseTorch('{"copy": ')!.error!, /unreadable JSON/);
});

test('bench: ResNet-50 layer presets, conv FLOPs 3× forward, BN floor 8N with the anchor 5N', () => {
  assert.equal(Object.keys(RESNET50_CONV_LAYERS), ['conv1', 'conv1_1ch', '1x1_256_64_56', '3x3_64_64_56', '3x3_256_256_14', '1x1_1024_256_14', '3x3_512_512_7']);
  const r = resolveSpec({ bench: 'conv', backend: 'cpu', layer: 'conv1', batch: 2 });
  assert.equal([r.shape, r.kernel, r.stride, r.cout], [[2, 224, 224, 3], 7, 2, 64]);
  assert.equal(resolveSpec({ bench: 'conv', backend: 'cpu', layer: '3x3_256_256_14' }).shape, [128, 14, 14, 256]);
  assert.throws(() => resolveSpec({ bench: 'bn', backend: 'cpu', layer: 'conv1' }), /conv only/);
  assert.throws(() => resolveSpec({ bench: 'conv', backend: 'cpu', layer: 'nope' }), /unknown --layer/);
  assert.throws(() => resolveSpec({ bench: 'conv', backend: 'cpu', layer: 'conv1', kernel: 3 }), /--batch, not/);
  assert.throws(() => resolveSpec({ bench: 'ifa', backend: 'cpu', batch: 4 }), /--batch goes with --layer/);

  // 3×3 512→512 @7, batch 1: 2·1·7·7·512·512·9 forward.
  const fwd = 2 * 7 * 7 * 512 * 512 * 9;
  for (const [pass, flops] of [
    ['forward', fwd],
    ['both', 3 * fwd],
  ] as const) {
    const w = prepareBench({ bench: 'conv', backend: 'cpu', layer: '3x3_512_512_7', batch: 1, pass });
    assert.is(w.flops, flops, pass);
    assert.is(w.extra.layer, '3x3_512_512_7');
    w.dispose();
  }
  // conv1 at stride 2: output 112×112.
  const c1 = prepareBench({ bench: 'conv', backend: 'cpu', layer: 'conv1', batch: 1, pass: 'forward' });
  assert.equal(c1.extra.out, [1, 112, 112, 64]);
  assert.is(c1.flops, 2 * 112 * 112 * 64 * 3 * 49);
  c1.dispose();
  // conv1_1ch: the same stem on the 1-channel radiograph.
  assert.equal(resolveSpec({ bench: 'conv', backend: 'cpu', layer: 'conv1_1ch', batch: 2 }).shape, [2, 224, 224, 1]);

  const shape = [2, 4, 4, 8];
  const both = prepareBench({ bench: 'bn', backend: 'cpu', shape });
  assert.is(both.bytes, 8 * numel(shape) * 4);
  assert.is(both.extra.anchor_bytes, 5 * numel(shape) * 4);
  both.dispose();
  const fwdOnly = prepareBench({ bench: 'bn', backend: 'cpu', shape, pass: 'forward' });
  assert.is(fwdOnly.bytes, 3 * numel(shape) * 4);
  assert.is(fwdOnly.extra.anchor_bytes, 2 * numel(shape) * 4);
  fwdOnly.dispose();
});

test('benchInput: randomNormal up to the block, then the block repeated; never all zeros', async () => {
  const small = benchInput([3, 5], { seed: 4, backend: 'cpu' });
  const v = await small.data();
  assert.ok(v.some((x) => x !== 0));
  small.dispose();
  const n = BENCH_BLOCK * 2 + 1000;
  const big = benchInput([n], { seed: 4, backend: 'cpu', std: 2 });
  const b = await big.data();
  big.dispose();
  assert.is(b.length, n);
  for (const i of [0, 1, 12345, BENCH_BLOCK - 1]) {
    assert.is(b[i + BENCH_BLOCK], b[i]);
    if (i < 1000) assert.is(b[i + 2 * BENCH_BLOCK], b[i]);
  }
  let sq = 0;
  for (let i = 0; i < BENCH_BLOCK; i++) sq += b[i] * b[i];
  assert.ok(Math.abs(Math.sqrt(sq / BENCH_BLOCK) - 2) < 0.01, 'std 2');
});

test.run();
