// Issue 4's GPU report: merges what bench/gpu/check.sh collected on the GPU machine (our
// `ifa-ssl bench … --backend cuda --json` lines, bench/torch/cuda_ops.py's JSON, the step log) into one
// Markdown file with the ratio table and a verdict per acceptance item.
//   node dist/bench/gpu/table.js --ours ours.jsonl --torch torch.json --steps steps.tsv --out report.md
//        [--meta 'key=value' ...] [--results]
// --results prints a section for bench/RESULTS.md instead: "## Issue 4 on <card>, <date>" with the
// same tables one heading level down and no step list (node … --results >> bench/RESULTS.md).
// Exit status: 0 every acceptance item passed, 1 one failed, 2 none failed but some were not verified
// (skipped, missing, or no copy bandwidth to compute floors with).
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

/** Issue 4's targets. */
export const TARGETS = {
  ifaShapes: [
    [128, 14, 14, 1024],
    [32, 32, 32, 1024],
  ],
  bnShape: [128, 56, 56, 256],
  /** IFA fwd+bwd: at most this many times the 3N·4-byte floor. */
  ifaMaxXFloor: 1.25,
  /** IFA fwd+bwd: at least this many times faster than torch.compile. */
  ifaMinVsCompile: 4,
  /** BN+ReLU fwd+bwd: at most this many times the 8N·4-byte floor. */
  bnMaxXFloor: 1.25,
  /** BN+ReLU fwd+bwd: at least this many times faster than eager PyTorch. */
  bnMinVsEager: 1.5,
};

export type Status = 'pass' | 'fail' | 'skipped' | 'timeout';
export type Verdict = 'PASS' | 'FAIL' | 'NOT RUN';

export interface Step {
  name: string;
  status: Status;
  seconds: number;
  note: string;
}

/** One line of ours.jsonl: a BenchResult of src/cli/bench.ts, or what check.sh wrote when it failed. */
export interface OursEntry {
  bench: string;
  shape: number[];
  pass?: string;
  layer?: string;
  median_ms?: number;
  min_ms?: number;
  /** Median host time to enqueue one iteration (ms). */
  host_ms?: number;
  bytes?: number;
  anchor_bytes?: number;
  flops?: number | null;
  TFLOPs?: number | null;
  error?: string;
  /** Why check.sh did not run it (e.g. CUDA unavailable). */
  skipped?: string;
  [k: string]: unknown;
}

export interface TorchEntry {
  work: string;
  variant: string;
  shape: number[];
  pass: string;
  layer?: string;
  median_ms?: number;
  TFLOPs?: number;
  error?: string;
  [k: string]: unknown;
}

export interface TorchReport {
  torch?: string;
  cuda?: string;
  cudnn?: number;
  device?: string;
  copy?: { GBps: number; median_ms?: number };
  results?: TorchEntry[];
  skipped?: string;
  error?: string;
  /** false while cuda_ops.py is still running (or was stopped): the results are partial. */
  complete?: boolean;
}

export interface ReportInput {
  ours: OursEntry[];
  torch: TorchReport | null;
  steps: Step[];
  meta?: Record<string, string>;
  /** A bench/RESULTS.md section rather than the device report. */
  results?: boolean;
}

export interface Item {
  name: string;
  verdict: Verdict;
  detail: string;
}

export interface Report {
  markdown: string;
  items: Item[];
  overall: 'PASS' | 'FAIL' | 'NOT VERIFIED';
  exitCode: 0 | 1 | 2;
}

const sameShape = (a: readonly number[] | undefined, b: readonly number[]) => !!a && a.length === b.length && a.every((v, i) => v === b[i]);
const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const fmt = (v: number | undefined | null, d = 3) => (v === undefined || v === null || !Number.isFinite(v) ? '—' : v.toFixed(d));
const shapeStr = (s: readonly number[]) => s.join('×');

/** A measured value against a bound: 'max' means value ≤ target passes, 'min' value ≥ target. */
export function check(value: number | undefined | null, target: number, kind: 'max' | 'min', missing: string): { verdict: Verdict; detail: string } {
  if (value === undefined || value === null || !Number.isFinite(value)) return { verdict: 'NOT RUN', detail: missing };
  const ok = kind === 'max' ? value <= target : value >= target;
  return { verdict: ok ? 'PASS' : 'FAIL', detail: `${value.toFixed(2)}× (target ${kind === 'max' ? '≤' : '≥'} ${target}×)` };
}

/** Our entry for a verdict: timed by the reps rule (not a fixed --reps, which check.sh uses for the one-iteration table). */
export function findOurs(ours: OursEntry[], bench: string, shape: readonly number[], pass = 'both', layer?: string): OursEntry | undefined {
  return ours.find((o) => !o.reps_fixed && o.bench === bench && (o.pass ?? 'both') === pass && (layer !== undefined ? o.layer === layer : sameShape(o.shape, shape)));
}

/** Our entry timed one iteration per event pair (--reps 1). */
export function findOursSingle(ours: OursEntry[], bench: string, shape: readonly number[]): OursEntry | undefined {
  return ours.find((o) => o.reps_fixed === true && o.reps === 1 && o.bench === bench && (o.pass ?? 'both') === 'both' && sameShape(o.shape, shape));
}

export function findTorch(torch: TorchReport | null, work: string, variant: string, shape: readonly number[], pass = 'both', layer?: string): TorchEntry | undefined {
  return torch?.results?.find((t) => t.work === work && t.variant === variant && t.pass === pass && (layer !== undefined ? t.layer === layer : sameShape(t.shape, shape)));
}

/** Why a measurement is missing, for the report. */
function whyMissing(entry: { error?: string; skipped?: string } | undefined, what: string, torch?: TorchReport | null): string {
  if (entry?.error) return `${what} failed: ${entry.error}`;
  if (entry?.skipped) return `${what} skipped: ${entry.skipped}`;
  if (torch !== undefined) {
    if (torch === null) return `${what}: no PyTorch results`;
    if (torch.skipped) return `${what} skipped: ${torch.skipped}`;
    if (torch.error) return `${what} failed: ${torch.error}`;
  }
  return `${what}: not measured`;
}

function stepItem(steps: Step[], stepName: string, title: string): Item {
  const s = steps.find((x) => x.name === stepName);
  if (!s) return { name: title, verdict: 'NOT RUN', detail: 'step not run' };
  if (s.status === 'pass') return { name: title, verdict: 'PASS', detail: s.note };
  if (s.status === 'skipped') return { name: title, verdict: 'NOT RUN', detail: s.note };
  return { name: title, verdict: 'FAIL', detail: `${s.status}: ${s.note}` };
}

export function buildReport(input: ReportInput): Report {
  const { ours, torch, steps } = input;
  const copy = torch?.copy?.GBps;
  const floorMs = (bytes: number) => (copy ? bytes / (copy * 1e6) : undefined);
  const noCopy = !torch
    ? 'no copy bandwidth (PyTorch not run)'
    : torch.skipped
      ? `no copy bandwidth (PyTorch skipped: ${torch.skipped})`
      : `no copy bandwidth measured (PyTorch ${torch.error ? `failed: ${torch.error}` : 'gave none'})`;
  const items: Item[] = [stepItem(steps, 'conformance', 'CUDA conformance suite (every op, forward + backward, vs CPU)'), stepItem(steps, 'memcheck', 'compute-sanitizer memcheck over the CUDA conformance suite'),
    stepItem(steps, 'control', "memcheck's positive control: a planted out-of-bounds read is reported")];

  const memRows: string[] = [];
  const memRow = (work: string, shape: number[], floorN: number, o: OursEntry | undefined, eager: TorchEntry | undefined, compiled: TorchEntry | undefined, maxX: number, minVs: number, vsLabel: 'eager' | 'compile') => {
    const fl = floorMs(floorN * numel(shape) * 4);
    const ms = o?.median_ms;
    const xFloor = ms !== undefined && fl ? ms / fl : undefined;
    const vsEager = ms && eager?.median_ms ? eager.median_ms / ms : undefined;
    const vsCompile = ms && compiled?.median_ms ? compiled.median_ms / ms : undefined;
    const label = `${work} ${shapeStr(shape)} fwd+bwd`;
    const ourWhy = whyMissing(o, 'ifa-ssl bench');
    const a = check(xFloor, maxX, 'max', ms === undefined ? ourWhy : noCopy);
    items.push({ name: `${label}: ≤ ${maxX}× the ${floorN}N·4-byte floor`, ...a });
    const peer = vsLabel === 'eager' ? eager : compiled;
    const vs = vsLabel === 'eager' ? vsEager : vsCompile;
    const b = check(vs, minVs, 'min', ms === undefined ? ourWhy : whyMissing(peer, `PyTorch ${vsLabel}`, torch));
    items.push({ name: `${label}: ≥ ${minVs}× faster than PyTorch ${vsLabel === 'compile' ? 'torch.compile' : 'eager'}`, ...b });
    const anchor = o?.anchor_bytes && fl && ms ? ` (anchor's ${Math.round(o.anchor_bytes / numel(shape) / 4)}N: ${fmt(ms / floorMs(o.anchor_bytes)!, 2)}×)` : '';
    memRows.push(
      `| ${label} | ${fmt(ms)} | ${fmt(fl)} (${floorN}N) | ${fmt(xFloor, 2)}${anchor} | ${a.verdict} | ${fmt(eager?.median_ms)} | ${fmt(compiled?.median_ms)} | ${fmt(vsEager, 2)} | ${fmt(vsCompile, 2)} | ${b.verdict} |`,
    );
  };
  for (const shape of TARGETS.ifaShapes) {
    memRow('IFA', shape, 3, findOurs(ours, 'ifa', shape), findTorch(torch, 'ifa', 'eager', shape), findTorch(torch, 'ifa', 'compile', shape), TARGETS.ifaMaxXFloor, TARGETS.ifaMinVsCompile, 'compile');
  }
  memRow('BN+ReLU', TARGETS.bnShape, 8, findOurs(ours, 'bn', TARGETS.bnShape), findTorch(torch, 'bn', 'eager', TARGETS.bnShape), undefined, TARGETS.bnMaxXFloor, TARGETS.bnMinVsEager, 'eager');

  // One iteration between two events (host launch time included), as the anchors timed PyTorch.
  const singleRows: string[] = [];
  for (const shape of TARGETS.ifaShapes) {
    const o = findOursSingle(ours, 'ifa', shape);
    const e = findTorch(torch, 'ifa', 'eager', shape);
    const c = findTorch(torch, 'ifa', 'compile', shape);
    const ms = o?.median_ms;
    const es = e?.single_ms as number | undefined;
    const cs = c?.single_ms as number | undefined;
    if (ms === undefined && es === undefined && cs === undefined) continue;
    singleRows.push(
      `| IFA ${shapeStr(shape)} fwd+bwd | ${fmt(ms)} | ${fmt(o?.host_ms)} | ${fmt(es)} | ${fmt(cs)} | ${fmt(ms && es ? es / ms : undefined, 2)} | ${fmt(ms && cs ? cs / ms : undefined, 2)} |`,
    );
  }

  // Convolution: no target; TFLOP/s against cuDNN, per layer found in either source.
  const layers = [...new Set([...ours.filter((o) => o.bench === 'conv' && o.layer).map((o) => o.layer!), ...(torch?.results ?? []).filter((t) => t.work === 'conv' && t.layer).map((t) => t.layer!)])];
  const convRows: string[] = [];
  const notes: string[] = [];
  for (const layer of layers) {
    const cell = (pass: string) => {
      const o = findOurs(ours, 'conv', [], pass, layer);
      const f = findTorch(torch, 'conv', 'cudnn-fp32', [], pass, layer);
      const t = findTorch(torch, 'conv', 'cudnn-tf32', [], pass, layer);
      if (o?.error) notes.push(`conv ${layer} ${pass}: ifa-ssl failed: ${o.error}`);
      for (const [e, v] of [[f, 'fp32'], [t, 'tf32']] as const) if (e?.error) notes.push(`conv ${layer} ${pass}: cuDNN ${v} failed: ${e.error}`);
      if (o && f && !o.error && !f.error && !sameShape(o.shape, f.shape)) notes.push(`conv ${layer}: ifa-ssl ran [${o.shape}], cuDNN [${f.shape}]`);
      return { o, f, t };
    };
    const fw = cell('forward');
    const bo = cell('both');
    const title = (bo.o?.title ?? fw.o?.title ?? layer) as string;
    const batch = bo.o?.shape?.[0] ?? bo.f?.shape?.[0] ?? fw.o?.shape?.[0] ?? fw.f?.shape?.[0];
    const ratio = bo.o?.TFLOPs && bo.f?.TFLOPs ? bo.o.TFLOPs / bo.f.TFLOPs : undefined;
    convRows.push(
      `| ${title} | ${batch ?? '—'} | ${fmt(fw.o?.TFLOPs, 2)} | ${fmt(fw.f?.TFLOPs, 2)} | ${fmt(fw.t?.TFLOPs, 2)} | ${fmt(bo.o?.TFLOPs, 2)} | ${fmt(bo.f?.TFLOPs, 2)} | ${fmt(bo.t?.TFLOPs, 2)} | ${fmt(ratio, 2)} | ${fmt(bo.o?.median_ms, 2)} |`,
    );
  }

  const failed = items.filter((i) => i.verdict === 'FAIL');
  const notRun = items.filter((i) => i.verdict === 'NOT RUN');
  const overall = failed.length ? 'FAIL' : notRun.length ? 'NOT VERIFIED' : 'PASS';
  const meta = input.meta ?? {};
  const lines: string[] = [];
  const h = input.results ? '###' : '##';
  if (input.results) lines.push(`## Issue 4 on ${torch?.device ?? meta.device ?? 'an unknown device'}, ${meta.date ?? 'undated'} — ${overall}`, '');
  else lines.push(`# Issue 4 GPU check — ${overall}`, '');
  const head: [string, string | undefined][] = [
    ['date', meta.date],
    ['device', torch?.device ?? meta.device],
    ['driver', meta.driver],
    ['commit', meta.commit],
    ['node', meta.node],
    ['ifa-ssl timing', [...new Set(ours.map((o) => o.timing).filter((t): t is string => typeof t === 'string'))].join(', ') || undefined],
    ['PyTorch', torch?.torch ? `${torch.torch} (CUDA ${torch.cuda}, cuDNN ${torch.cudnn})${torch.complete === false ? ' — stopped before the end: partial results' : ''}` : (torch?.skipped ?? torch?.error ?? 'not run')],
    ['copy bandwidth (device-to-device, read+write)', copy ? `${copy} GB/s — the floors below are bytes / this` : 'not measured'],
  ];
  for (const [k, v] of head) if (v) lines.push(`- ${k}: ${v}`);
  for (const [k, v] of Object.entries(meta)) if (!['date', 'device', 'driver', 'commit', 'node'].includes(k)) lines.push(`- ${k}: ${v}`);
  lines.push('', `${h} Acceptance`, '', '| item | verdict | detail |', '|---|---|---|');
  for (const i of items) lines.push(`| ${i.name} | ${i.verdict} | ${i.detail.replace(/\|/g, '\\|')} |`);
  lines.push(
    '',
    `${h} IFA and BatchNorm+ReLU (median ms; floors at the copy bandwidth above; "vs" = PyTorch ms / ifa-ssl ms)`,
    '',
    '| work (NHWC) | ifa-ssl | floor | × floor | ≤ 1.25× | PyTorch eager | torch.compile | vs eager | vs compile | speed target |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|---|',
    ...memRows,
    '',
    `Speed targets: IFA ≥ ${TARGETS.ifaMinVsCompile}× vs torch.compile; BN+ReLU ≥ ${TARGETS.bnMinVsEager}× vs eager. PyTorch runs NCHW (as the anchors).`,
  );
  if (singleRows.length) {
    lines.push(
      '',
      `${h} IFA timed one iteration per event pair (median ms; host launch time included, as the anchors timed PyTorch; no verdict)`,
      '',
      '| work (NHWC) | ifa-ssl | its host time to enqueue | PyTorch eager | torch.compile | vs eager | vs compile |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...singleRows,
    );
  }
  if (convRows.length) {
    lines.push(
      '',
      `${h} Convolution, ResNet-50 layers (TFLOP/s; fp32; no target)`,
      '',
      'cuDNN through nn.Conv2d, channels_last; fp32 = TF32 disallowed, tf32 = allowed. fwd+bwd counts 3× the forward FLOPs (input and weight gradients).',
      '',
      '| layer | batch | ifa-ssl fwd | cuDNN fp32 fwd | cuDNN tf32 fwd | ifa-ssl fwd+bwd | cuDNN fp32 fwd+bwd | cuDNN tf32 fwd+bwd | ifa-ssl / cuDNN fp32 (fwd+bwd) | ifa-ssl fwd+bwd ms |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...convRows,
    );
  }
  if (notes.length) lines.push('', 'Notes:', '', ...notes.map((n) => `- ${n}`));
  if (!input.results) {
    lines.push('', '## Steps', '', '| step | status | s | note |', '|---|---|---:|---|');
    for (const s of steps) lines.push(`| ${s.name} | ${s.status} | ${s.seconds} | ${s.note.replace(/\|/g, '\\|')} |`);
  } else {
    const notPassed = steps.filter((s) => s.status !== 'pass');
    if (notPassed.length) lines.push('', 'Steps that did not pass: ' + notPassed.map((s) => `${s.name} (${s.status}: ${s.note})`).join('; ') + '.');
  }
  lines.push('');
  return { markdown: lines.join('\n'), items, overall, exitCode: failed.length ? 1 : notRun.length ? 2 : 0 };
}

/** steps.tsv: name, status, seconds, note per line (tabs). */
export function parseSteps(text: string): Step[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [name, status, seconds, ...note] = l.split('\t');
      return { name, status: status as Status, seconds: Number(seconds), note: note.join(' ') };
    });
}

/** ours.jsonl: one JSON object a line; other lines (warnings) are ignored. */
export function parseJsonLines(text: string): OursEntry[] {
  const out: OursEntry[] = [];
  for (const l of text.split('\n')) {
    const t = l.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t));
    } catch {
      /* a torn line */
    }
  }
  return out;
}

/** cuda_ops.py's stdout: one JSON object (possibly after stray lines); null when there is none. */
export function parseTorch(text: string): TorchReport | null {
  const start = text.indexOf('{');
  if (start < 0) return null;
  try {
    return JSON.parse(text.slice(start));
  } catch (e) {
    return { error: `unreadable JSON (${(e as Error).message.slice(0, 120)})` };
  }
}

function readOr(path: string | undefined, fallback: string): string {
  if (!path) return fallback;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      ours: { type: 'string' },
      torch: { type: 'string' },
      steps: { type: 'string' },
      out: { type: 'string' },
      meta: { type: 'string', multiple: true },
      results: { type: 'boolean', default: false },
    },
  });
  const meta: Record<string, string> = {};
  for (const kv of values.meta ?? []) {
    const i = kv.indexOf('=');
    if (i > 0 && kv.slice(i + 1).trim()) meta[kv.slice(0, i)] = kv.slice(i + 1).trim();
  }
  const torchText = readOr(values.torch, '');
  const report = buildReport({
    ours: parseJsonLines(readOr(values.ours, '')),
    torch: torchText.trim() ? parseTorch(torchText) : null,
    steps: parseSteps(readOr(values.steps, '')),
    meta,
    results: values.results,
  });
  if (values.out) writeFileSync(values.out, report.markdown);
  process.stdout.write(report.markdown);
  return report.exitCode;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main(process.argv.slice(2));
