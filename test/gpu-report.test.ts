// bench/gpu: the verdicts of the issue-4 report (bench/gpu/table.ts) on made-up measurements, the
// parsers of what check.sh collects, and the bench pieces the GPU table relies on (ResNet-50 layer
// presets, conv FLOP counts, BN floor bytes, tiled bench inputs). No GPU needed.
import * as assert from 'uvu/assert';
import { BENCH_BLOCK, RESNET50_CONV_LAYERS, benchInput, prepareBench, resolveSpec } from '../src/bench/ops.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  CONV_TARGETS,
  buildReport,
  check,
  parseJsonLines,
  parseSteps,
  parseTorch,
  parseTorchRounds,
  type OursEntry,
  type Step,
  type TorchReport,
  type TorchRound,
} from '../bench/gpu/table.js';
import { cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);

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
      { work: 'conv', variant: 'cudnn-fp32', layer: 'conv1_rgb', shape: [128, 224, 224, 3], pass: 'both', median_ms: 9, TFLOPs: 10 },
      { work: 'conv', variant: 'cudnn-tf32', layer: 'conv1_rgb', shape: [128, 224, 224, 3], pass: 'both', median_ms: 4.5, TFLOPs: 20 },
    ],
  };
}

/** Our results at the given multiples of each floor. */
function ours(xIfa1: number, xIfa2: number, xBn: number): OursEntry[] {
  return [
    { bench: 'ifa', shape: IFA1, pass: 'both', median_ms: xIfa1 * floorMs(3, IFA1) },
    { bench: 'ifa', shape: IFA2, pass: 'both', median_ms: xIfa2 * floorMs(3, IFA2) },
    { bench: 'bn', shape: BN, pass: 'both', median_ms: xBn * floorMs(8, BN), anchor_bytes: 5 * numel(BN) * 4 },
    { bench: 'conv', shape: [128, 224, 224, 3], pass: 'both', layer: 'conv1_rgb', title: 'conv1 7×7 s2, 3→64 @224', median_ms: 18, TFLOPs: 5 },
  ];
}

/** NHWC input of each tensor-core layer at batch 128. */
const TC_SHAPE = (layer: string) => {
  const l = RESNET50_CONV_LAYERS[layer];
  return [128, l.hw, l.hw, l.cin];
};
const TC_DTYPE: Record<string, [string, boolean]> = { tf32: ['float32', true], bf16: ['bfloat16', false], fp16: ['float16', false] };
/** cuDNN's fwd+bwd TFLOP/s in the synthetic rounds (fwd 80 everywhere). */
const CUDNN_BOTH: Record<string, number> = { tf32: 100, bf16: 200, fp16: 250 };

/**
 * The conv-tc step's files for `rounds` rounds: cuDNN at CUDNN_BOTH, ours fwd+bwd at ratio(layer,
 * precision, round) × cuDNN's (undefined: our line missing), ours fwd 60; ms 3.0 (ours) and 2.5 (cuDNN) fwd+bwd.
 */
function tcRounds(
  ratio: (layer: string, precision: string, round: number) => number | undefined,
  rounds = 2,
  cudnn: (layer: string, precision: string, round: number) => number = (_l, p) => CUDNN_BOTH[p],
): { oursConv: OursEntry[]; torchConv: TorchRound[] } {
  const oursConv: OursEntry[] = [];
  const torchConv: TorchRound[] = [];
  for (let round = 1; round <= rounds; round++) {
    const results: TorchRound['results'] = [];
    for (const layer of CONV_TARGETS.layers) {
      for (const precision of CONV_TARGETS.precisions) {
        const [dtype, tf32] = TC_DTYPE[precision];
        const shape = TC_SHAPE(layer);
        const base = { bench: 'conv', round, layer, title: RESNET50_CONV_LAYERS[layer].title, dtype, tf32, shape };
        oursConv.push({ ...base, pass: 'forward', median_ms: 1, TFLOPs: 60, plans: [`fwd ${precision} 128x128x32`] });
        const x = ratio(layer, precision, round);
        if (x !== undefined) {
          oursConv.push({ ...base, pass: 'both', median_ms: 3, TFLOPs: x * cudnn(layer, precision, round), plans: [`fwd ${precision} 128x128x32`, `dgrad ${precision} 128x64x32`, `wgrad ${precision} splitk4`] });
        }
        const t = { work: 'conv', layer, variant: `cudnn-${precision}`, precision, shape };
        results.push({ ...t, pass: 'forward', median_ms: 0.8, TFLOPs: 80 }, { ...t, pass: 'both', median_ms: 2.5, TFLOPs: cudnn(layer, precision, round) });
      }
    }
    torchConv.push({ round, torch: '2.11.0', device: 'NVIDIA H200', results });
  }
  return { oursConv, torchConv };
}
const tcPass = () => tcRounds(() => 0.9);

const okSteps: Step[] = [
  { name: 'conformance', status: 'pass', seconds: 20, note: '71/71 passed, 0 skipped' },
  { name: 'memcheck', status: 'pass', seconds: 90, note: 'ERROR SUMMARY: 0 errors' },
  { name: 'control', status: 'pass', seconds: 3, note: 'the planted out-of-bounds read was reported' },
  { name: 'sm70', status: 'pass', seconds: 40, note: '290/290 passed, 0 skipped; tensor cores: sm_70 WMMA kernels' },
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
  const r = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps, ...tcPass() });
  assert.is(r.overall, 'PASS', r.markdown);
  assert.is(r.exitCode, 0);
  assert.is(r.items.length, 14);
  assert.ok(r.items.every((i) => i.verdict === 'PASS'));
  assert.match(r.items[13].name, /V100 path: a compute_70-only build/);
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
  const r = buildReport({ ours: [single, ...ours(1.1, 1.2, 1.2)], torch: t, steps: okSteps, ...tcPass() });
  assert.is(r.overall, 'PASS', r.markdown);
  assert.match(r.markdown, /## IFA timed one iteration per event pair/);
  // 0.6 / 0.15 = 4.00, 1.6 / 0.15 = 10.67; IFA 2 has no ifa-ssl single entry.
  assert.match(r.markdown, /\| IFA 128×14×14×1024 fwd\+bwd \| 0\.150 \| 0\.021 \| 1\.600 \| 0\.600 \| 10\.67 \| 4\.00 \|/);
  assert.match(r.markdown, /\| IFA 32×32×32×1024 fwd\+bwd \| — \| — \| 1\.600 \| 0\.600 \| — \| — \|/);
  // Without single timings the table is left out.
  assert.not.match(buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps }).markdown, /one iteration per event pair/);
});

test('--results: a bench/RESULTS.md section, headed by card and date, without the step list', () => {
  const r = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: [...okSteps, { name: 'torch', status: 'timeout', seconds: 200, note: 'cuda_ops.py exited with 124' }], meta: { date: '2026-12-01' }, results: true, ...tcPass() });
  assert.match(r.markdown, /^## Issue 4 on NVIDIA H100 80GB HBM3, 2026-12-01 — PASS\n/);
  assert.match(r.markdown, /\n### Acceptance\n/);
  assert.match(r.markdown, /\n### Convolution/);
  assert.match(r.markdown, /\n### Tensor-core convolutions vs cuDNN \(batch 128, TFLOP\/s, median over rounds; spread min–max\)\n/);
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

const TC_LIST = 'conv1_rgb, conv1_1ch, 1x1_256_64_56, 3x3_64_64_56, 3x3_256_256_14, 1x1_1024_256_14, 3x3_512_512_7';
const tcEvery = (p: string) =>
  `${p} convolutions fwd+bwd: every layer ≥ 0.6× cuDNN ${p} (the 7 layers ${TC_LIST}: the anchors' six and conv1_1ch on 1 channel; ours / cuDNN TFLOP/s per round, then the median over rounds)`;
const tcGeo = (p: string) => `${p} convolutions fwd+bwd: geometric mean over the same 7 layers ≥ 0.8× cuDNN ${p} (of each layer's median over rounds)`;
const itemOf = (r: { items: { name: string; verdict: string; detail: string }[] }, name: string) => {
  const i = r.items.find((x) => x.name === name);
  assert.ok(i, `no item ${name}`);
  return i!;
};

test('tensor-core convs: every layer above target in both rounds → four PASS items, rows with spread, fp16 without a verdict, plans in the notes', () => {
  const r = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps, ...tcPass() });
  assert.is(r.overall, 'PASS', r.markdown);
  assert.equal(itemOf(r, tcEvery('tf32')), { name: tcEvery('tf32'), verdict: 'PASS', detail: 'min 0.90× (conv1_rgb) over 7 layers, 2 rounds each (target ≥ 0.6×)' });
  assert.equal(itemOf(r, tcGeo('tf32')), { name: tcGeo('tf32'), verdict: 'PASS', detail: '0.90× over 7 layers, 2 rounds each (target ≥ 0.8×)' });
  assert.is(itemOf(r, tcEvery('bf16')).verdict, 'PASS');
  assert.is(itemOf(r, tcGeo('bf16')).verdict, 'PASS');
  assert.not.ok(r.items.some((i) => i.name.startsWith('fp16')), 'fp16 has no acceptance item');
  assert.match(r.markdown, '\n## Tensor-core convolutions vs cuDNN (batch 128, TFLOP/s, median over rounds; spread min–max)\n\n2 rounds in this call, each: ifa-ssl');
  assert.match(
    r.markdown,
    '| layer | precision | ifa-ssl fwd | cuDNN fwd | ifa-ssl fwd+bwd | cuDNN fwd+bwd | ours / cuDNN fwd+bwd | spread | rounds | ≥ 0.6× | ifa-ssl fwd+bwd ms | cuDNN fwd+bwd ms |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n' +
      '| conv1 7×7 s2, 3→64 @224 | tf32 | 60.0 | 80.0 | 90.0 | 100.0 | 0.90 | 0.90–0.90 | 2 | PASS | 3.000 | 2.500 |\n' +
      '| conv1 7×7 s2, 3→64 @224 | bf16 | 60.0 | 80.0 | 180.0 | 200.0 | 0.90 | 0.90–0.90 | 2 | PASS | 3.000 | 2.500 |\n' +
      '| conv1 7×7 s2, 3→64 @224 | fp16 | 60.0 | 80.0 | 225.0 | 250.0 | 0.90 | 0.90–0.90 | 2 | — | 3.000 | 2.500 |\n' +
      '| conv1 7×7 s2, 1→64 @224 | tf32 |',
  );
  // 7 layers × 3 precisions, in CONV_TARGETS order.
  const rows = r.markdown.split('\n').filter((l) => /^\| .* \| (tf32|bf16|fp16) \| /.test(l));
  assert.is(rows.length, 21);
  assert.match(rows[20], /^\| 3×3 512→512 @7 \| fp16 \| /);
  assert.match(r.markdown, '\n- plans, conv1_1ch bf16: fwd [fwd bf16 128x128x32]; fwd+bwd [fwd bf16 128x128x32, dgrad bf16 128x64x32, wgrad bf16 splitk4]\n');
  // check.sh's `asked` against what the bench says it ran: a bench that ignored --tf32 is an fp32 row, noted.
  const tc = tcPass();
  const line = tc.oursConv.find((o) => o.layer === '3x3_512_512_7' && o.dtype === 'float32' && o.pass === 'both' && o.round === 2)!;
  Object.assign(line, { asked: 'tf32', tf32: false });
  const odd = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps, ...tc });
  assert.match(odd.markdown, '\n- tensor-core conv 3x3_512_512_7 fwd+bwd round 2: asked for tf32, the bench ran fp32 (dtype float32, tf32 false)\n');
  assert.match(odd.markdown, '| 3×3 512→512 @7 | tf32 | 60.0 | 80.0 | 90.0 | 100.0 | 0.90 | 0.90–0.90 | 1 | PASS | 3.000 | 2.500 |');
  // The old fp32 table takes its cuDNN tf32 columns from the rounds when torch.json has none.
  const noTf32 = torchReport();
  noTf32.results = noTf32.results!.filter((t) => t.variant !== 'cudnn-tf32');
  const borrowed = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: noTf32, steps: okSteps, ...tcPass() });
  assert.match(borrowed.markdown, /\| conv1 7×7 s2, 3→64 @224 \| 128 \| — \| — \| 80\.00 \| 5\.00 \| 10\.00 \| 100\.00 \| 0\.50 \| 18\.00 \|/);
  assert.match(borrowed.markdown, /cuDNN tf32: the median of the tensor-core rounds above\./);
});

test('tensor-core convs: a layer below 0.6× fails its precision, the geometric mean is judged on its own', () => {
  const tc = tcRounds((layer, p) => (p === 'bf16' ? (layer === 'conv1_1ch' ? 0.5 : 0.9) : p === 'tf32' ? (layer === '3x3_512_512_7' ? 0.62 : 0.7) : 0.3));
  const r = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps, ...tc });
  assert.is(r.overall, 'FAIL');
  assert.is(r.exitCode, 1);
  // tf32: every layer ≥ 0.6× but the geometric mean (0.7⁶·0.62)^(1/7) = 0.69× is short of 0.8×.
  assert.equal(itemOf(r, tcEvery('tf32')), { name: tcEvery('tf32'), verdict: 'PASS', detail: 'min 0.62× (3x3_512_512_7) over 7 layers, 2 rounds each (target ≥ 0.6×)' });
  assert.equal(itemOf(r, tcGeo('tf32')), { name: tcGeo('tf32'), verdict: 'FAIL', detail: '0.69× over 7 layers, 2 rounds each (target ≥ 0.8×)' });
  // bf16: conv1_1ch at 0.5× fails every-layer; the mean (0.9⁶·0.5)^(1/7) = 0.83× passes.
  assert.equal(itemOf(r, tcEvery('bf16')), { name: tcEvery('bf16'), verdict: 'FAIL', detail: 'below 0.6×: conv1_1ch 0.50× (target ≥ 0.6×)' });
  assert.equal(itemOf(r, tcGeo('bf16')), { name: tcGeo('bf16'), verdict: 'PASS', detail: '0.83× over 7 layers, 2 rounds each (target ≥ 0.8×)' });
  assert.match(r.markdown, '| conv1 7×7 s2, 1→64 @224 | bf16 | 60.0 | 80.0 | 100.0 | 200.0 | 0.50 | 0.50–0.50 | 2 | FAIL | 3.000 | 2.500 |');
  // fp16 at 0.3×: reported, no verdict, no effect on the outcome.
  assert.match(r.markdown, '| conv1 7×7 s2, 3→64 @224 | fp16 | 60.0 | 80.0 | 75.0 | 250.0 | 0.30 | 0.30–0.30 | 2 | — | 3.000 | 2.500 |');
});

test('tensor-core convs: a layer missing on either side is not verified (exit 2), never PASS; our failed commands are noted per row', () => {
  const tc = tcRounds((layer, p) => (p === 'bf16' && layer === '3x3_64_64_56' ? undefined : 0.9));
  // cuDNN has no conv1_1ch tf32 fwd+bwd in either round; our bf16 3x3_64_64_56 fwd+bwd failed (check.sh's line).
  for (const rep of tc.torchConv) rep.results = rep.results!.filter((t) => !(t.layer === 'conv1_1ch' && t.precision === 'tf32' && t.pass === 'both'));
  for (const round of [1, 2]) {
    tc.oursConv.push({ bench: 'conv', round, layer: '3x3_64_64_56', pass: 'both', dtype: 'bfloat16', tf32: false, precision: 'bf16', shape: [], error: "rc 1: ifa-ssl: Unknown option '--dtype'" });
  }
  const r = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps, ...tc });
  assert.is(r.overall, 'NOT VERIFIED', r.markdown);
  assert.is(r.exitCode, 2);
  assert.equal(itemOf(r, tcEvery('tf32')), {
    name: tcEvery('tf32'),
    verdict: 'NOT RUN',
    detail: 'not verified: no ratio for conv1_1ch (conv1_1ch: cuDNN: not measured); the 6 measured ≥ 0.6× (min 0.90×, conv1_rgb)',
  });
  assert.equal(itemOf(r, tcGeo('tf32')), {
    name: tcGeo('tf32'),
    verdict: 'NOT RUN',
    detail: 'not verified: 6 of 7 layers measured (their geometric mean 0.90×); no ratio for conv1_1ch (conv1_1ch: cuDNN: not measured)',
  });
  assert.equal(itemOf(r, tcEvery('bf16')), {
    name: tcEvery('bf16'),
    verdict: 'NOT RUN',
    detail: "not verified: no ratio for 3x3_64_64_56 (3x3_64_64_56: ifa-ssl failed (round 1): rc 1: ifa-ssl: Unknown option '--dtype'); the 6 measured ≥ 0.6× (min 0.90×, conv1_rgb)",
  });
  assert.is(itemOf(r, tcGeo('bf16')).verdict, 'NOT RUN');
  assert.match(r.markdown, '| 3×3 64→64 @56 | bf16 | 60.0 | 80.0 | — | 200.0 | — | — | 0 | NOT RUN | — | 2.500 |');
  assert.match(r.markdown, '| conv1 7×7 s2, 1→64 @224 | tf32 | 60.0 | 80.0 | 90.0 | — | — | — | 0 | NOT RUN | 3.000 | — |');
  assert.match(r.markdown, "\n- tensor-core conv, ifa-ssl failed (2 runs: 3x3_64_64_56 bf16 fwd+bwd (rounds 1, 2)): rc 1: ifa-ssl: Unknown option '--dtype'\n");

  // A measured layer below target with another missing: FAIL (that is already known), the missing one named.
  const tc2 = tcRounds((layer, p) => (p === 'bf16' && layer === 'conv1_rgb' ? 0.4 : p === 'bf16' && layer === 'conv1_1ch' ? undefined : 0.9));
  const f = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps, ...tc2 });
  assert.equal(itemOf(f, tcEvery('bf16')), {
    name: tcEvery('bf16'),
    verdict: 'FAIL',
    detail: 'below 0.6×: conv1_rgb 0.40× (target ≥ 0.6×); not verified besides: no ratio for conv1_1ch (conv1_1ch: ifa-ssl: not measured)',
  });
  assert.is(itemOf(f, tcGeo('bf16')).verdict, 'NOT RUN');

  // No conv-tc data at all (the step not run): the four items are NOT RUN and the section is left out.
  const none = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps });
  assert.is(none.exitCode, 2);
  assert.equal(
    none.items.filter((i) => i.verdict === 'NOT RUN').map((i) => i.detail),
    [0, 1, 2, 3].map((i) => (i % 2 ? 'not verified: 0 of 7 layers measured; ' : 'not verified: ') + `no ratio for ${TC_LIST} (conv1_rgb: ifa-ssl: not measured)`),
  );
  assert.not.match(none.markdown, /Tensor-core convolutions vs cuDNN/);
  // CUDA unavailable: check.sh's one layerless line gives every row its reason.
  const noCuda = buildReport({ ours: [], torch: null, steps: [], oursConv: [{ bench: 'conv', shape: [], skipped: 'CUDA unavailable (built without CUDA)' }], torchConv: [] });
  assert.match(itemOf(noCuda, tcEvery('tf32')).detail, /\(conv1_rgb: ifa-ssl skipped: CUDA unavailable \(built without CUDA\)\)$/);
  assert.match(noCuda.markdown, '\n- tensor-core conv: ifa-ssl skipped: CUDA unavailable (built without CUDA)\n');
});

test('tensor-core convs: two rounds with spread: ratio per round first, then the median over rounds', () => {
  // conv1 bf16: round 1 ours 180 vs cuDNN 200 (0.9×), round 2 ours 170 vs a slow cuDNN 100 (1.7×):
  // median of the per-round ratios 1.30× (the ratio of the medians, 175 / 150, would be 1.17×).
  const tc = tcRounds(
    (layer, p, round) => (layer === 'conv1_rgb' && p === 'bf16' ? (round === 1 ? 0.9 : 1.7) : 0.9),
    2,
    (layer, p, round) => (layer === 'conv1_rgb' && p === 'bf16' && round === 2 ? 100 : CUDNN_BOTH[p]),
  );
  const r = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps, ...tc });
  assert.is(r.overall, 'PASS', r.markdown);
  assert.match(r.markdown, '| conv1 7×7 s2, 3→64 @224 | bf16 | 60.0 | 80.0 | 175.0 | 150.0 | 1.30 | 0.90–1.70 | 2 | PASS | 3.000 | 2.500 |');
  // Round 2's PyTorch run gave nothing: the ratios come from round 1 alone, and the note says why.
  const lost = tcRounds(() => 0.9);
  lost.torchConv[1] = { round: 2, error: 'cuda_ops.py exited with 124, no readable JSON (see check.log)' };
  const one = buildReport({ ours: ours(1.1, 1.2, 1.2), torch: torchReport(), steps: okSteps, ...lost });
  assert.equal(itemOf(one, tcEvery('tf32')).detail, 'min 0.90× (conv1_rgb) over 7 layers, 1 round each (target ≥ 0.6×)');
  assert.match(one.markdown, '| conv1 7×7 s2, 3→64 @224 | tf32 | 60.0 | 80.0 | 90.0 | 100.0 | 0.90 | 0.90–0.90 | 1 | PASS | 3.000 | 2.500 |');
  assert.match(one.markdown, '\n- tensor-core conv, round 2: cuDNN failed: cuda_ops.py exited with 124, no readable JSON (see check.log)\n');
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
  const rounds = parseTorchRounds('{"round": 1, "results": []}\n[cuda_ops] noise\n{"round": 2, "resu\n');
  assert.is(rounds.length, 2);
  assert.is(rounds[0].round, 1);
  assert.match(rounds[1].error!, /unreadable JSON/);
});

test('bench: ResNet-50 layer presets, conv FLOPs 3× forward, BN floor 8N with the anchor 5N', () => {
  assert.equal(Object.keys(RESNET50_CONV_LAYERS), ['conv1_rgb', 'conv1_1ch', '1x1_256_64_56', '3x3_64_64_56', '3x3_256_256_14', '1x1_1024_256_14', '3x3_512_512_7']);
  const r = resolveSpec({ bench: 'conv', backend: 'cpu', layer: 'conv1_rgb', batch: 2 });
  assert.equal([r.shape, r.kernel, r.stride, r.cout], [[2, 224, 224, 3], 7, 2, 64]);
  assert.equal(resolveSpec({ bench: 'conv', backend: 'cpu', layer: '3x3_256_256_14' }).shape, [128, 14, 14, 256]);
  assert.throws(() => resolveSpec({ bench: 'bn', backend: 'cpu', layer: 'conv1_rgb' }), /conv only/);
  assert.throws(() => resolveSpec({ bench: 'conv', backend: 'cpu', layer: 'nope' }), /unknown --layer/);
  assert.throws(() => resolveSpec({ bench: 'conv', backend: 'cpu', layer: 'conv1_rgb', kernel: 3 }), /--batch, not/);
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
  // conv1_rgb at stride 2: output 112×112.
  const c1 = prepareBench({ bench: 'conv', backend: 'cpu', layer: 'conv1_rgb', batch: 1, pass: 'forward' });
  assert.equal(c1.extra.out, [1, 112, 112, 64]);
  assert.is(c1.flops, 2 * 112 * 112 * 64 * 3 * 49);
  c1.dispose();
  // conv1_1ch: the same stem on the 1-channel radiograph.
  assert.equal(resolveSpec({ bench: 'conv', backend: 'cpu', layer: 'conv1_1ch', batch: 2 }).shape, [2, 224, 224, 1]);
  // --dtype: half tensors (2 bytes an element in the floor) and the dtype in the JSON; one iteration
  // runs (the CPU half reference). --tf32 goes with float32 only, and neither with other benches.
  const half = prepareBench({ bench: 'conv', backend: 'cpu', shape: [1, 6, 6, 8], cout: 8, dtype: 'bfloat16' });
  assert.is(half.bytes, 3 * (6 * 6 * 8 + 8 * 9 * 8 + 6 * 6 * 8) * 2);
  assert.is(half.extra.dtype, 'bfloat16');
  assert.is(half.extra.tf32, false);
  half.run();
  half.dispose();
  assert.throws(() => prepareBench({ bench: 'conv', backend: 'cpu', shape: [1, 6, 6, 8], dtype: 'float16', tf32: true }), /--tf32 applies to float32 convolutions, not float16/);
  assert.throws(() => prepareBench({ bench: 'ifa', backend: 'cpu', dtype: 'bfloat16' }), /--dtype and --tf32 apply to bench conv only, not ifa/);

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

test('cuda_ops.py times the same ResNet-50 layers as RESNET50_CONV_LAYERS, by the same names', () => {
  const py = readFileSync(fileURLToPath(new URL('../../bench/torch/cuda_ops.py', import.meta.url)), 'utf8');
  const block = py.slice(py.indexOf('LAYERS = {'), py.indexOf('}', py.indexOf('LAYERS = {')));
  const layers = [...block.matchAll(/"([^"]+)": \((\d+), (\d+), (\d+), (\d+), (\d+)\)/g)].map((m) => [m[1], ...m.slice(2).map(Number)]);
  assert.equal(
    layers,
    Object.entries(RESNET50_CONV_LAYERS).map(([k, l]) => [k, l.hw, l.cin, l.cout, l.kernel, l.stride]),
  );
  assert.equal(CONV_TARGETS.layers, Object.keys(RESNET50_CONV_LAYERS));
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
