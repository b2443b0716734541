// Issue 4's GPU report: merges what bench/gpu/check.sh collected on the GPU machine (our
// `ifa-ssl bench … --backend cuda --json` lines, bench/torch/cuda_ops.py's JSON, the step log) into one
// Markdown file with the ratio table and a verdict per acceptance item. Issue 14's tensor-core
// convolutions come from the conv-tc step's alternating rounds: ours-conv.jsonl (our bench lines, each
// with its round) and torch-conv.jsonl (one cuda_ops.py --only conv report a line, each with its round).
//   node dist/bench/gpu/table.js --ours ours.jsonl --torch torch.json --steps steps.tsv --out report.md
//        [--ours-conv ours-conv.jsonl --torch-conv torch-conv.jsonl] [--meta 'key=value' ...] [--results]
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

/**
 * Issue 14's targets: our tensor-core convolutions against cuDNN at the same precision, forward + both
 * gradients, batch 128. A layer's ratio is ours / cuDNN TFLOP/s within one round, then the median over
 * the rounds; the geometric mean is taken over the layers' medians.
 */
export const CONV_TARGETS = {
  /** The six ResNet-50 layers of the anchors (`bench conv --layer`) plus conv1_1ch, the stem on the 1-channel radiograph. */
  layers: ['conv1_rgb', 'conv1_1ch', '1x1_256_64_56', '3x3_64_64_56', '3x3_256_256_14', '1x1_1024_256_14', '3x3_512_512_7'],
  /** The rows of the table, in order. */
  precisions: ['tf32', 'bf16', 'fp16'],
  /** The precisions with verdicts; fp16 is reported without one. */
  judged: ['tf32', 'bf16'],
  /** Every layer at least this many times cuDNN's fwd+bwd TFLOP/s. */
  minPerLayer: 0.6,
  /** The geometric mean over the layers at least this. */
  minGeomean: 0.8,
};

export type Status = 'pass' | 'fail' | 'skipped' | 'timeout';
export type Verdict = 'PASS' | 'FAIL' | 'NOT RUN';

export interface Step {
  name: string;
  status: Status;
  seconds: number;
  note: string;
}

/** One line of ours.jsonl: a BenchResult of src/bench/ops.ts, or what check.sh wrote when it failed. */
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

/** One round of the conv-tc step on the PyTorch side: cuda_ops.py's report and its round. */
export interface TorchRound extends TorchReport {
  round?: number;
}

export interface ReportInput {
  ours: OursEntry[];
  torch: TorchReport | null;
  /** ours-conv.jsonl: our tensor-core conv lines (each with `round`); check.sh's error and skip lines too. */
  oursConv?: OursEntry[];
  /** torch-conv.jsonl: one cuda_ops.py --only conv report per round. */
  torchConv?: TorchRound[];
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

const median = (v: number[]): number | undefined => {
  if (!v.length) return undefined;
  const x = [...v].sort((a, b) => a - b);
  return x.length % 2 ? x[(x.length - 1) / 2] : (x[x.length / 2 - 1] + x[x.length / 2]) / 2;
};
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The precision of one of our conv lines: dtype float32 with tf32 → tf32; check.sh's own lines say it. */
export function oursPrecision(o: OursEntry): string | undefined {
  if (typeof o.precision === 'string') return o.precision;
  if (o.dtype === 'bfloat16') return 'bf16';
  if (o.dtype === 'float16') return 'fp16';
  if (o.dtype === undefined || o.dtype === 'float32') return o.tf32 === true ? 'tf32' : 'fp32';
  return undefined;
}

/** The precision of a cuDNN result: its `precision`, else the variant's suffix (cudnn-tf32 → tf32). */
export function torchPrecision(t: TorchEntry): string | undefined {
  if (typeof t.precision === 'string') return t.precision;
  return t.variant?.startsWith('cudnn-') ? t.variant.slice('cudnn-'.length) : undefined;
}

/** TFLOP/s of a measurement, or undefined when it has none (failed, skipped). */
function tflopsOf(e: { TFLOPs?: number | null; flops?: number | null; median_ms?: number; error?: string; skipped?: string } | undefined): number | undefined {
  if (!e || e.error || e.skipped) return undefined;
  if (finite(e.TFLOPs)) return e.TFLOPs;
  return finite(e.flops) && finite(e.median_ms) && e.median_ms > 0 ? e.flops / e.median_ms / 1e9 : undefined;
}

interface TcCell {
  ours: Map<number, OursEntry>;
  torch: Map<number, TorchEntry>;
}

/** One row of the tensor-core table: a layer at a precision, both passes, every round. */
interface TcRow {
  layer: string;
  precision: string;
  forward: TcCell;
  both: TcCell;
  /** ours / cuDNN fwd+bwd TFLOP/s in each round that both sides measured, by round. */
  ratios: Map<number, number>;
  ratio?: number;
  /** Why there is no ratio. */
  why?: string;
}

const passLabel = (p: string) => (p === 'both' ? 'fwd+bwd' : 'fwd');
const roundList = (rs: Iterable<number>) => [...rs].sort((a, b) => a - b).join(', ');

/**
 * Issue 14's tensor-core section: rows per layer × precision from the conv-tc rounds, the four
 * acceptance items (tf32 and bf16: every layer ≥ 0.6×, geometric mean ≥ 0.8×), and notes (failures,
 * skips, the kernel plans our side chose).
 */
export function convTcReport(
  oursConv: OursEntry[],
  torchConv: TorchRound[],
  meta: Record<string, string> = {},
  titles = new Map<string, string>(),
): { items: Item[]; lines: string[]; notes: string[]; rows: TcRow[] } {
  const T = CONV_TARGETS;
  const key = (layer: string, precision: string, pass: string) => `${layer}|${precision}|${pass}`;
  const cells = new Map<string, TcCell>();
  const cellOf = (layer: string, precision: string, pass: string) => {
    const k = key(layer, precision, pass);
    let c = cells.get(k);
    if (!c) cells.set(k, (c = { ours: new Map(), torch: new Map() }));
    return c;
  };
  const layers = [...T.layers];
  const precisions = [...T.precisions];
  const seen = (list: string[], v: string | undefined) => v !== undefined && !list.includes(v) && list.push(v);
  // Lines that apply to the whole step (no layer): CUDA unavailable, the step skipped.
  const oursGlobal: string[] = [];
  const notes: string[] = [];
  const batches = new Set<number>();
  const rounds = new Set<number>();
  for (const o of oursConv) {
    if (o.bench !== 'conv') continue;
    const why = o.error ? `ifa-ssl failed: ${o.error}` : o.skipped ? `ifa-ssl skipped: ${o.skipped}` : undefined;
    if (!o.layer) {
      if (why) oursGlobal.push(why);
      continue;
    }
    const precision = oursPrecision(o);
    if (!precision) continue;
    const round = finite(o.round) ? o.round : 1;
    // check.sh's `asked`: the precision it asked for. A bench that ran another is counted as what it ran.
    if (typeof o.asked === 'string' && o.asked !== precision) {
      notes.push(`tensor-core conv ${o.layer} ${passLabel(o.pass ?? 'both')} round ${round}: asked for ${o.asked}, the bench ran ${precision} (dtype ${o.dtype ?? '—'}, tf32 ${o.tf32 ?? '—'})`);
    }
    rounds.add(round);
    seen(layers, o.layer);
    seen(precisions, precision);
    if (typeof o.title === 'string') titles.set(o.layer, o.title);
    if (finite(o.shape?.[0]) && !why) batches.add(o.shape[0]);
    cellOf(o.layer, precision, o.pass ?? 'both').ours.set(round, o);
  }
  // Rounds whose PyTorch run gave no results at all: their reason.
  const torchGlobal = new Map<number, string>();
  torchConv.forEach((rep, i) => {
    const round = finite(rep.round) ? rep.round : i + 1;
    rounds.add(round);
    if (rep.skipped) torchGlobal.set(round, `cuDNN skipped: ${rep.skipped}`);
    else if (rep.error && !rep.results?.length) torchGlobal.set(round, `cuDNN failed: ${rep.error}`);
    for (const t of rep.results ?? []) {
      if (t.work !== 'conv' || !t.layer) continue;
      const precision = torchPrecision(t);
      if (!precision || precision === 'fp32') continue; // fp32 is the exact path: not a tensor-core row
      seen(layers, t.layer);
      seen(precisions, precision);
      if (finite(t.shape?.[0]) && !t.error && !t.skipped) batches.add(t.shape[0]);
      cellOf(t.layer, precision, t.pass).torch.set(round, t);
    }
  });
  const none = { ours: new Map(), torch: new Map() } as TcCell;
  const whySide = (c: TcCell, side: 'ours' | 'torch'): string => {
    const m: Map<number, OursEntry | TorchEntry> = c[side];
    for (const [r, e] of [...m].sort((a, b) => a[0] - b[0])) {
      const who = side === 'ours' ? 'ifa-ssl' : 'cuDNN';
      if (e.error) return `${who} failed (round ${r}): ${e.error}`;
      if (e.skipped) return `${who} skipped (round ${r}): ${e.skipped}`;
    }
    if (side === 'ours') return oursGlobal[0] ?? 'ifa-ssl: not measured';
    const g = [...torchGlobal].sort((a, b) => a[0] - b[0])[0];
    if (g) return `${g[1]} (round ${g[0]})`;
    return torchConv.length ? 'cuDNN: not measured' : 'cuDNN: no PyTorch round ran';
  };

  const rows: TcRow[] = [];
  for (const layer of layers) {
    for (const precision of precisions) {
      const forward = cells.get(key(layer, precision, 'forward')) ?? none;
      const both = cells.get(key(layer, precision, 'both')) ?? none;
      const core = T.layers.includes(layer) && T.precisions.includes(precision);
      if (!core && forward === none && both === none) continue;
      const ratios = new Map<number, number>();
      for (const [r, o] of both.ours) {
        const a = tflopsOf(o);
        const b = tflopsOf(both.torch.get(r));
        if (a !== undefined && b !== undefined && b > 0) ratios.set(r, a / b);
      }
      const row: TcRow = { layer, precision, forward, both, ratios, ratio: median([...ratios.values()]) };
      if (row.ratio === undefined) {
        const oursRounds = [...both.ours].filter(([, e]) => tflopsOf(e) !== undefined).map(([r]) => r);
        const torchRounds = [...both.torch].filter(([, e]) => tflopsOf(e) !== undefined).map(([r]) => r);
        if (!oursRounds.length) row.why = whySide(both, 'ours');
        else if (!torchRounds.length) row.why = whySide(both, 'torch');
        else row.why = `no round measured on both sides (ifa-ssl: rounds ${roundList(oursRounds)}; cuDNN: rounds ${roundList(torchRounds)})`;
      }
      rows.push(row);
    }
  }

  // The acceptance items: per judged precision, every layer and the geometric mean, over T.layers.
  const items: Item[] = [];
  const n = T.layers.length;
  const x = (v: number) => `${v.toFixed(2)}×`;
  for (const precision of T.judged) {
    const per = T.layers.map((layer) => rows.find((r) => r.layer === layer && r.precision === precision)!);
    const measured = per.filter((r) => r.ratio !== undefined);
    const missing = per.filter((r) => r.ratio === undefined);
    const missingText = missing.length ? `no ratio for ${missing.map((r) => r.layer).join(', ')} (${missing[0].layer}: ${missing[0].why})` : '';
    const minRow = measured.length ? measured.reduce((a, b) => (b.ratio! < a.ratio! ? b : a)) : undefined;
    const roundsText = (() => {
      const counts = measured.map((r) => r.ratios.size);
      if (!counts.length) return '';
      const lo = Math.min(...counts);
      const hi = Math.max(...counts);
      return lo === hi ? `${lo} round${lo === 1 ? '' : 's'} each` : `${lo}–${hi} rounds`;
    })();
    const subject = `${precision} convolutions fwd+bwd`;
    const below = measured.filter((r) => r.ratio! < T.minPerLayer);
    const every: Item = { name: `${subject}: every layer ≥ ${T.minPerLayer}× cuDNN ${precision} (the ${n} layers ${T.layers.join(', ')}: the anchors' six and conv1_1ch on 1 channel; ours / cuDNN TFLOP/s per round, then the median over rounds)`, verdict: 'PASS', detail: '' };
    if (below.length) {
      every.verdict = 'FAIL';
      every.detail = `below ${T.minPerLayer}×: ${below.map((r) => `${r.layer} ${x(r.ratio!)}`).join(', ')} (target ≥ ${T.minPerLayer}×)${missing.length ? `; not verified besides: ${missingText}` : ''}`;
    } else if (missing.length) {
      every.verdict = 'NOT RUN';
      every.detail = `not verified: ${missingText}${minRow ? `; the ${measured.length} measured ≥ ${T.minPerLayer}× (min ${x(minRow.ratio!)}, ${minRow.layer})` : ''}`;
    } else {
      every.detail = `min ${x(minRow!.ratio!)} (${minRow!.layer}) over ${n} layers, ${roundsText} (target ≥ ${T.minPerLayer}×)`;
    }
    items.push(every);
    const geoName = `${subject}: geometric mean over the same ${n} layers ≥ ${T.minGeomean}× cuDNN ${precision} (of each layer's median over rounds)`;
    const geoOf = (rs: TcRow[]) => Math.exp(rs.reduce((a, r) => a + Math.log(r.ratio!), 0) / rs.length);
    if (missing.length) {
      items.push({ name: geoName, verdict: 'NOT RUN', detail: `not verified: ${measured.length} of ${n} layers measured${measured.length ? ` (their geometric mean ${x(geoOf(measured))})` : ''}; ${missingText}` });
    } else {
      const c = check(geoOf(measured), T.minGeomean, 'min', '');
      items.push({ name: geoName, verdict: c.verdict, detail: `${c.detail.replace(' (target', ` over ${n} layers, ${roundsText} (target`)}` });
    }
  }

  // The table.
  const t1 = (v: number | undefined) => fmt(v, 1);
  const lines: string[] = [];
  const tfl = (c: TcCell, side: 'ours' | 'torch') => median([...c[side].values()].map((e) => tflopsOf(e)).filter(finite));
  const ms = (c: TcCell, side: 'ours' | 'torch') => median([...c[side].values()].filter((e) => tflopsOf(e) !== undefined).map((e) => e.median_ms).filter(finite));
  const tableRows: string[] = [];
  for (const r of rows) {
    const vs = [...r.ratios.values()];
    const spread = vs.length ? `${Math.min(...vs).toFixed(2)}–${Math.max(...vs).toFixed(2)}` : '—';
    const judged = T.judged.includes(r.precision) && T.layers.includes(r.layer);
    const verdict = judged ? check(r.ratio, T.minPerLayer, 'min', '').verdict : '—';
    tableRows.push(
      `| ${titles.get(r.layer) ?? r.layer} | ${r.precision} | ${t1(tfl(r.forward, 'ours'))} | ${t1(tfl(r.forward, 'torch'))} | ${t1(tfl(r.both, 'ours'))} | ${t1(tfl(r.both, 'torch'))} | ${fmt(r.ratio, 2)} | ${spread} | ${r.ratios.size} | ${verdict} | ${fmt(ms(r.both, 'ours'))} | ${fmt(ms(r.both, 'torch'))} |`,
    );
  }
  if (!oursConv.length && !torchConv.length) return { items, lines, notes, rows };

  // Notes: each failure or skip message once, with the runs it applies to.
  const byMessage = new Map<string, { who: string; runs: Map<string, number[]> }>();
  const total = { ours: 0, torch: 0 };
  for (const r of rows) {
    for (const pass of ['forward', 'both'] as const) {
      const c = r[pass];
      for (const side of ['ours', 'torch'] as const) {
        for (const [round, e] of c[side]) {
          total[side]++;
          const what = e.error ? 'failed' : e.skipped ? 'skipped' : undefined;
          if (!what) continue;
          const who = `${side === 'ours' ? 'ifa-ssl' : 'cuDNN'} ${what}`;
          const k = `${who}\u0000${e.error ?? e.skipped}`;
          let g = byMessage.get(k);
          if (!g) byMessage.set(k, (g = { who, runs: new Map() }));
          const run = `${r.layer} ${r.precision} ${passLabel(pass)}`;
          g.runs.set(run, [...(g.runs.get(run) ?? []), round]);
        }
      }
    }
  }
  for (const [k, g] of byMessage) {
    const msg = k.split('\u0000')[1];
    const count = [...g.runs.values()].reduce((a, v) => a + v.length, 0);
    const side = g.who.startsWith('ifa-ssl') ? 'ours' : 'torch';
    const list = [...g.runs].map(([run, rs]) => `${run} (round${rs.length > 1 ? 's' : ''} ${roundList(rs)})`);
    const where = count === total[side] ? `all ${count} runs` : `${count} run${count === 1 ? '' : 's'}: ${list.slice(0, 8).join(', ')}${list.length > 8 ? `, and ${list.length - 8} more` : ''}`;
    notes.push(`tensor-core conv, ${g.who} (${where}): ${msg}`);
  }
  for (const g of new Set(oursGlobal)) notes.push(`tensor-core conv: ${g}`);
  for (const [round, g] of [...torchGlobal].sort((a, b) => a[0] - b[0])) notes.push(`tensor-core conv, round ${round}: ${g}`);
  // The kernel configurations our side chose (bench JSON `plans`), per row and pass.
  for (const r of rows) {
    const parts: string[] = [];
    for (const pass of ['forward', 'both'] as const) {
      const byPlan = new Map<string, number[]>();
      for (const [round, e] of r[pass].ours) if (Array.isArray(e.plans)) byPlan.set(e.plans.join(', '), [...(byPlan.get(e.plans.join(', ')) ?? []), round]);
      if (!byPlan.size) continue;
      const ps = [...byPlan];
      parts.push(`${passLabel(pass)} ${ps.length === 1 ? `[${ps[0][0]}]` : ps.map(([p, rs]) => `round${rs.length > 1 ? 's' : ''} ${roundList(rs)} [${p}]`).join(', ')}`);
    }
    if (parts.length) notes.push(`plans, ${r.layer} ${r.precision}: ${parts.join('; ')}`);
  }
  for (const r of rows) {
    const o = [...r.both.ours.values(), ...r.forward.ours.values()].find((e) => tflopsOf(e) !== undefined);
    const t = [...r.both.torch.values(), ...r.forward.torch.values()].find((e) => tflopsOf(e) !== undefined);
    if (o && t && !sameShape(o.shape, t.shape)) notes.push(`tensor-core conv ${r.layer} ${r.precision}: ifa-ssl ran [${o.shape}], cuDNN [${t.shape}]`);
  }

  const batch = batches.size ? [...batches].sort((a, b) => a - b).join('/') : (meta['conv batch'] ?? '?');
  const nRounds = rounds.size;
  lines.push(
    `Tensor-core convolutions vs cuDNN (batch ${batch}, TFLOP/s, median over rounds; spread min–max)`,
    '',
    `${nRounds} round${nRounds === 1 ? '' : 's'} in this call, each: ifa-ssl (\`bench conv --layer … --dtype …\`, one process per layer, precision and pass), then cuDNN (cuda_ops.py --only conv: nn.Conv2d, channels_last). ` +
      'tf32 = float32 tensors with TF32 allowed; bf16, fp16 = input, weights and gradients in that dtype (PyTorch: tensors and module in the dtype, no autocast). ' +
      `ours / cuDNN = the fwd+bwd TFLOP/s ratio within a round, its median over the rounds (spread: min–max; rounds: how many had both sides). ≥ ${T.minPerLayer}×: the per-layer target for ${T.judged.join(' and ')}; fp16 has none. fwd+bwd counts 3× the forward FLOPs.`,
    '',
    `| layer | precision | ifa-ssl fwd | cuDNN fwd | ifa-ssl fwd+bwd | cuDNN fwd+bwd | ours / cuDNN fwd+bwd | spread | rounds | ≥ ${T.minPerLayer}× | ifa-ssl fwd+bwd ms | cuDNN fwd+bwd ms |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|',
    ...tableRows,
  );
  return { items, lines, notes, rows };
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

  // Issue 14: the tensor-core convolutions against cuDNN, from the conv-tc rounds.
  const titles = new Map<string, string>();
  for (const o of [...ours, ...(input.oursConv ?? [])]) if (o.bench === 'conv' && o.layer && typeof o.title === 'string') titles.set(o.layer, o.title);
  const tc = convTcReport(input.oursConv ?? [], input.torchConv ?? [], input.meta, titles);
  items.push(...tc.items);
  items.push(
    stepItem(steps, 'sm70', 'the V100 path: a compute_70-only build (CUDA 11.8 PTX, compiled by the driver for this card) passes the CUDA conformance suite and the fp16 tensor-core (WMMA) conv tests'),
  );
  // The old table's cuDNN tf32 columns: torch.json's, or when it has none (check.sh now measures
  // cuDNN tf32 in the conv-tc rounds only) the median over those rounds.
  const torchHasTf32 = !!torch?.results?.some((t) => t.work === 'conv' && t.variant === 'cudnn-tf32');
  const tf32FromRounds = (layer: string, pass: string): TorchEntry | undefined => {
    if (torchHasTf32) return undefined;
    const row = tc.rows.find((r) => r.layer === layer && r.precision === 'tf32');
    const v = row ? median([...row[pass === 'both' ? 'both' : 'forward'].torch.values()].map((e) => tflopsOf(e)).filter(finite)) : undefined;
    return v === undefined ? undefined : ({ work: 'conv', variant: 'cudnn-tf32', shape: [], pass, layer, TFLOPs: v } as TorchEntry);
  };
  let tf32Borrowed = false;

  // Convolution: no target; TFLOP/s against cuDNN, per layer found in either source.
  const layers = [...new Set([...ours.filter((o) => o.bench === 'conv' && o.layer).map((o) => o.layer!), ...(torch?.results ?? []).filter((t) => t.work === 'conv' && t.layer).map((t) => t.layer!)])];
  const convRows: string[] = [];
  const notes: string[] = [];
  for (const layer of layers) {
    const cell = (pass: string) => {
      const o = findOurs(ours, 'conv', [], pass, layer);
      const f = findTorch(torch, 'conv', 'cudnn-fp32', [], pass, layer);
      let t = findTorch(torch, 'conv', 'cudnn-tf32', [], pass, layer);
      if (!t) {
        t = tf32FromRounds(layer, pass);
        if (t) tf32Borrowed = true;
      }
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
  if (tc.lines.length) {
    lines.push('', `${h} ${tc.lines[0]}`, ...tc.lines.slice(1));
  }
  if (convRows.length) {
    lines.push(
      '',
      `${h} Convolution, ResNet-50 layers (TFLOP/s; fp32; no target)`,
      '',
      'cuDNN through nn.Conv2d, channels_last; fp32 = TF32 disallowed, tf32 = allowed. fwd+bwd counts 3× the forward FLOPs (input and weight gradients).' +
        (tf32Borrowed ? ' cuDNN tf32: the median of the tensor-core rounds above.' : ''),
      '',
      '| layer | batch | ifa-ssl fwd | cuDNN fp32 fwd | cuDNN tf32 fwd | ifa-ssl fwd+bwd | cuDNN fp32 fwd+bwd | cuDNN tf32 fwd+bwd | ifa-ssl / cuDNN fp32 (fwd+bwd) | ifa-ssl fwd+bwd ms |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...convRows,
    );
  }
  notes.push(...tc.notes);
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

/** torch-conv.jsonl: one cuda_ops.py report per line (each with its round); a torn line is an error round. */
export function parseTorchRounds(text: string): TorchRound[] {
  const out: TorchRound[] = [];
  for (const l of text.split('\n')) {
    const t = l.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t));
    } catch (e) {
      out.push({ error: `unreadable JSON (${(e as Error).message.slice(0, 120)})` });
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
      'ours-conv': { type: 'string' },
      'torch-conv': { type: 'string' },
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
    oursConv: parseJsonLines(readOr(values['ours-conv'], '')),
    torchConv: parseTorchRounds(readOr(values['torch-conv'], '')),
    steps: parseSteps(readOr(values.steps, '')),
    meta,
    results: values.results,
  });
  if (values.out) writeFileSync(values.out, report.markdown);
  process.stdout.write(report.markdown);
  return report.exitCode;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main(process.argv.slice(2));
