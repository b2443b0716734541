// The profiler's arithmetic: a trace (src/core/trace.ts) of a few steps → one row per kernel with
// calls, total and mean time, share of the step, bytes moved and FLOPs (from the kernel table's
// cost functions, src/backends/kernels.ts), achieved GB/s and TFLOP/s and the fraction of the
// device's roofline, plus transfers (the stream's writes and reads) and the device's idle time (the
// gaps between its spans: waiting for the host to enqueue). Rows are per step: totals over the steps
// profiled, divided by their number, so kernels + transfers + idle = the mean step time on an
// in-order stream (spans cut at their step's end).
//
// Roofline: a kernel can take no less than max(FLOPs / peak FLOP/s, bytes / peak bandwidth); its
// fraction of the roofline is that floor over its measured time (1 = at the roof).
import type { BackendName } from '../backends/backend.js';
import { kernelCost, type CostCall } from '../backends/kernels.js';
import { dtypeSize, type DType } from './dtype.js';
import type { HostOp, Trace } from './trace.js';

export interface Roofline {
  /** Memory bandwidth, GB/s (10⁹ bytes per second). */
  bandwidthGBps: number;
  /** Peak FLOP/s (TFLOP/s) of float32 math, and of the tensor-core paths where the device has them. */
  tflops: { float32: number; tf32?: number; bfloat16?: number; float16?: number };
  /** Where the figures come from: "measured: …" or "known: <card>". */
  source: string;
}

export interface ProfileRow {
  kernel: string;
  /** Per step. */
  calls: number;
  totalMs: number;
  meanUs: number;
  /** Of the mean step time. */
  share: number;
  bytes: number;
  flops: number;
  GBps: number;
  TFLOPs: number;
  /** The roofline floor over the measured time (null for transfers and idle, or with no cost). */
  roofline: number | null;
}

export interface Profile {
  backend: BackendName;
  steps: number;
  /** Mean wall time of a profiled step (its window on the trace clock). */
  stepMs: number;
  /** Σ kernel rows, per step; kernelMs + transferMs + idleMs = stepMs when the device's spans are disjoint. */
  kernelMs: number;
  transferMs: number;
  idleMs: number;
  rows: ProfileRow[];
  roofline: Roofline;
  /** Kernels seen on the device without a matching host launch (0 unless something bypassed the library). */
  unmatched: number;
}

const GEMM_LIKE = new Set(['matmul', 'sgemm', 'conv2d', 'conv2dBackwardInput', 'conv2dBackwardFilter']);

/** The peak FLOP/s a call can reach: tensor-core rates for half dtypes and TF32 GEMMs where known. */
function peakTflops(r: Roofline, op: HostOp): number {
  const kernel = op.kernel.replace(/Reference$/, '');
  if (!GEMM_LIKE.has(kernel)) return r.tflops.float32;
  const dtype: DType = op.inputs[0]?.dtype ?? 'float32';
  if (dtype === 'bfloat16') return r.tflops.bfloat16 ?? r.tflops.float32;
  if (dtype === 'float16') return r.tflops.float16 ?? r.tflops.float32;
  if (op.attrs.tf32) return r.tflops.tf32 ?? r.tflops.float32;
  return r.tflops.float32;
}

export function costCall(op: HostOp): CostCall {
  const t = (s: { shape: readonly number[]; dtype: DType }) => ({ shape: s.shape, bytesPerElement: dtypeSize(s.dtype) });
  return { inputs: op.inputs.map(t), outputs: op.outputs.map(t), attrs: op.attrs };
}

export interface Window {
  beginUs: number;
  endUs: number;
  /** Iterations of the work in the window (a CUDA bench sample enqueues several); default 1. */
  iterations?: number;
}

/**
 * The windows to profile: the 'steps' track's spans (training steps, bench samples) that are timed
 * (bench warm-up steps are marked timed: false), less the first `skip` of them (warm-up).
 */
export function stepWindows(trace: Trace, skip = 0): Window[] {
  return trace.marks
    .filter((m) => m.track === 'steps' && m.args?.timed !== false)
    .sort((a, b) => a.beginUs - b.beginUs)
    .slice(skip)
    .map((m) => ({ beginUs: m.beginUs, endUs: m.endUs, iterations: typeof m.args?.iterations === 'number' ? m.args.iterations : 1 }));
}

/**
 * The profile of `windows` (the steps to count) on one backend's device track. A span (kernel or
 * transfer) belongs to the window its begin falls in and counts up to that window's end (a read
 * whose end is recorded after the step's sync returned is cut there).
 */
export function profileTrace(trace: Trace, windows: Window[], backend: BackendName, roofline: Roofline): Profile {
  if (windows.length === 0) throw new Error('profile: no steps to profile (the trace holds no step spans)');
  const kernels = clipToWindows(trace.kernels.filter((k) => k.backend === backend), windows);
  const steps = windows.reduce((s, w) => s + (w.iterations ?? 1), 0);
  const stepUs = windows.reduce((s, w) => s + (w.endUs - w.beginUs), 0) / steps;
  const byName = new Map<string, { calls: number; us: number; bytes: number; flops: number; floorUs: number; costed: boolean }>();
  let transferUs = 0;
  for (const k of kernels) {
    const us = k.endUs - k.beginUs;
    if (!k.op) {
      transferUs += us;
      continue;
    }
    let row = byName.get(k.name);
    if (!row) byName.set(k.name, (row = { calls: 0, us: 0, bytes: 0, flops: 0, floorUs: 0, costed: true }));
    row.calls++;
    row.us += us;
    const cost = kernelCost(k.op.kernel, costCall(k.op));
    if (!cost) {
      row.costed = false;
      continue;
    }
    row.bytes += cost.bytes;
    row.flops += cost.flops;
    row.floorUs += Math.max(cost.flops / (peakTflops(roofline, k.op) * 1e6), cost.bytes / (roofline.bandwidthGBps * 1e3));
  }
  const rows: ProfileRow[] = [...byName.entries()]
    .map(([kernel, r]) => ({
      kernel,
      calls: r.calls / steps,
      totalMs: r.us / steps / 1e3,
      meanUs: r.us / r.calls,
      share: r.us / steps / stepUs,
      bytes: r.bytes / steps,
      flops: r.flops / steps,
      GBps: r.us > 0 ? r.bytes / (r.us * 1e3) : 0,
      TFLOPs: r.us > 0 ? r.flops / (r.us * 1e6) : 0,
      roofline: r.costed && r.us > 0 ? r.floorUs / r.us : null,
    }))
    .sort((a, b) => b.totalMs - a.totalMs);
  const kernelMs = rows.reduce((s, r) => s + r.totalMs, 0);
  const transferMs = transferUs / steps / 1e3;
  return {
    backend,
    steps,
    stepMs: stepUs / 1e3,
    kernelMs,
    transferMs,
    idleMs: idleUs(kernels, windows) / steps / 1e3,
    rows,
    roofline,
    unmatched: trace.unmatched,
  };
}

/** The spans whose begin falls in a window, each ended at the latest at that window's end. */
export function clipToWindows<T extends { beginUs: number; endUs: number }>(spans: readonly T[], windows: readonly Window[]): T[] {
  const out: T[] = [];
  for (const k of spans) {
    const w = windows.find((x) => k.beginUs >= x.beginUs && k.beginUs < x.endUs);
    if (w) out.push(k.endUs > w.endUs ? { ...k, endUs: w.endUs } : k);
  }
  return out;
}

/**
 * The time inside the windows that none of `spans` (clipped to their windows: clipToWindows)
 * covers: the gaps between them, measured on the device track. Measured rather than the step's
 * remainder, kernels + transfers + idle = the step only when the device's spans are disjoint (one
 * in-order stream), which the tests check; overlapping spans count their union once.
 */
export function idleUs(spans: readonly { beginUs: number; endUs: number }[], windows: readonly Window[]): number {
  const sorted = [...spans].sort((a, b) => a.beginUs - b.beginUs);
  let idle = 0;
  for (const w of windows) {
    let at = w.beginUs;
    for (const k of sorted) {
      if (k.beginUs < w.beginUs || k.endUs <= at) continue;
      if (k.beginUs >= w.endUs) break;
      if (k.beginUs > at) idle += k.beginUs - at;
      at = Math.max(at, Math.min(k.endUs, w.endUs));
    }
    if (at < w.endUs) idle += w.endUs - at;
  }
  return idle;
}

function fmt(v: number, digits: number): string {
  return v.toFixed(digits);
}

/** The profile as a text table, widest kernels first. */
export function formatProfile(p: Profile): string {
  const head = ['kernel', 'calls', 'total ms', 'mean µs', 'share', 'MB', 'GFLOP', 'GB/s', 'TFLOP/s', 'roofline'];
  const body: string[][] = p.rows.map((r) => [
    r.kernel,
    fmt(r.calls, r.calls % 1 ? 1 : 0),
    fmt(r.totalMs, 3),
    fmt(r.meanUs, 1),
    `${fmt(r.share * 100, 1)}%`,
    fmt(r.bytes / 1e6, 2),
    fmt(r.flops / 1e9, 3),
    fmt(r.GBps, 1),
    fmt(r.TFLOPs, 4),
    r.roofline === null ? '-' : `${fmt(r.roofline * 100, 1)}%`,
  ]);
  const pct = (ms: number) => `${fmt((ms / p.stepMs) * 100, 1)}%`;
  body.push(['(transfers: write/read)', '', fmt(p.transferMs, 3), '', pct(p.transferMs), '', '', '', '', '']);
  body.push(['(device idle)', '', fmt(p.idleMs, 3), '', pct(p.idleMs), '', '', '', '', '']);
  body.push(['step', '', fmt(p.stepMs, 3), '', '100%', '', '', '', '', '']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const r = p.roofline;
  const peaks = [`fp32 ${r.tflops.float32} TFLOP/s`, ...(['tf32', 'bfloat16', 'float16'] as const).filter((d) => r.tflops[d]).map((d) => `${d} ${r.tflops[d]} TFLOP/s`)].join(', ');
  return [
    `profile on ${p.backend}: ${p.steps} step${p.steps === 1 ? '' : 's'}, per step (means); kernel times are the device's (${p.backend === 'cpu' ? 'stream thread begin → end' : p.backend === 'cuda' ? 'CUDA events around each launch' : 'submit → complete'})`,
    `roofline: ${r.bandwidthGBps} GB/s, ${peaks} (${r.source})`,
    line(head),
    ...body.map(line),
    ...(p.unmatched ? [`(${p.unmatched} device spans had no host launch)`] : []),
  ].join('\n');
}

/** Known figures (dense, no sparsity) of cards the project runs on; matched against the device name. */
export const KNOWN_CARDS: { match: RegExp; name: string; bandwidthGBps: number; tflops: Roofline['tflops'] }[] = [
  { match: /H200/, name: 'NVIDIA H200 SXM', bandwidthGBps: 4800, tflops: { float32: 67, tf32: 495, bfloat16: 989, float16: 989 } },
  { match: /H100.*PCIe/, name: 'NVIDIA H100 PCIe', bandwidthGBps: 2000, tflops: { float32: 51, tf32: 378, bfloat16: 756, float16: 756 } },
  { match: /H100/, name: 'NVIDIA H100 SXM', bandwidthGBps: 3350, tflops: { float32: 67, tf32: 495, bfloat16: 989, float16: 989 } },
  { match: /A100.*80GB/, name: 'NVIDIA A100 80GB SXM', bandwidthGBps: 2039, tflops: { float32: 19.5, tf32: 156, bfloat16: 312, float16: 312 } },
  { match: /A100/, name: 'NVIDIA A100 40GB', bandwidthGBps: 1555, tflops: { float32: 19.5, tf32: 156, bfloat16: 312, float16: 312 } },
  { match: /V100/, name: 'NVIDIA V100 SXM2', bandwidthGBps: 900, tflops: { float32: 15.7, float16: 125 } },
  { match: /L4\b/, name: 'NVIDIA L4', bandwidthGBps: 300, tflops: { float32: 30.3, tf32: 60, bfloat16: 121, float16: 121 } },
  { match: /RTX 4090/, name: 'NVIDIA RTX 4090', bandwidthGBps: 1008, tflops: { float32: 82.6, tf32: 82.6, bfloat16: 165, float16: 165 } },
];

export function knownRoofline(device: string | undefined): Roofline | null {
  if (!device) return null;
  const card = KNOWN_CARDS.find((c) => c.match.test(device));
  return card ? { bandwidthGBps: card.bandwidthGBps, tflops: card.tflops, source: `known: ${card.name} datasheet, dense` } : null;
}
