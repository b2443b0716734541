// Pictures for the run folder: ROC curves and training curves, drawn with vega-lite (compiled to
// vega, rendered headless with renderer 'none' and view.toSVG(); no browser, no canvas) and turned
// into PNG by sharp (librsvg). writePlot writes NAME.svg and NAME.png next to each other.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import sharp from 'sharp';

/** At most this many points per plotted series: longer series are thinned evenly (ends kept). */
export const MAX_POINTS = 1500;

/** Indices 0..n−1 thinned evenly to at most max, the first and last kept. */
function thin(n: number, max = MAX_POINTS): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let j = 0; j < max; j++) out.push(Math.round((j * (n - 1)) / (max - 1)));
  return out;
}

/** Renders a vega-lite spec to SVG text (headless). */
export async function vegaLiteToSvg(spec: Record<string, unknown>): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vl.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface RocSeries {
  name: string;
  fpr: ArrayLike<number>;
  tpr: ArrayLike<number>;
  /** shown in the legend; null / NaN for none */
  auc: number | null;
}

/** ROC curves, one line per series (legend: name and AUC), with the chance diagonal. */
export async function rocSvg(curves: RocSeries[], title: string): Promise<string> {
  if (!curves.length) throw new Error(`rocSvg: no curves to draw for "${title}"`);
  const values: { fpr: number; tpr: number; i: number; curve: string }[] = [];
  for (const c of curves) {
    if (c.fpr.length !== c.tpr.length) throw new Error(`rocSvg: curve ${c.name} has ${c.fpr.length} false-positive rates but ${c.tpr.length} true-positive rates`);
    const label = c.auc !== null && Number.isFinite(c.auc) ? `${c.name} (AUC ${c.auc.toFixed(3)})` : c.name;
    for (const i of thin(c.fpr.length)) values.push({ fpr: c.fpr[i], tpr: c.tpr[i], i, curve: label });
  }
  return vegaLiteToSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 320,
    height: 320,
    background: 'white',
    layer: [
      {
        data: { values: [{ a: 0, b: 0 }, { a: 1, b: 1 }] },
        mark: { type: 'line', strokeDash: [4, 4], color: '#999', strokeWidth: 1, aria: false },
        encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'b', type: 'quantitative' } },
      },
      {
        data: { values },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'false-positive rate (1 − specificity)', scale: { domain: [0, 1] } },
          y: { field: 'tpr', type: 'quantitative', title: 'true-positive rate (sensitivity)', scale: { domain: [0, 1] } },
          color: { field: 'curve', type: 'nominal', title: null, sort: null, legend: { orient: 'bottom-right', labelLimit: 320 } },
          order: { field: 'i', type: 'quantitative' },
        },
      },
    ],
  });
}

/** A field of a metrics row by dotted path ('loss', 'ifa.block3'); undefined unless a finite number. */
function field(row: Record<string, unknown>, path: string): number | undefined {
  let v: unknown = row;
  for (const k of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/**
 * The series a pretraining metrics.jsonl holds: loss (total), contrastive, each IFA term
 * (ifa.<name>) and lr, in that order; any other numeric top-level field (e.g. a finetuning run's
 * val_loss) follows, except step, epoch, img_per_s and time_s.
 */
export function defaultLossFields(rows: Record<string, unknown>[]): string[] {
  const seen = new Set<string>();
  const extra = new Set<string>();
  for (const r of rows) {
    for (const [k, v] of Object.entries(r)) {
      if (k === 'ifa' && v && typeof v === 'object') for (const t of Object.keys(v)) seen.add(`ifa.${t}`);
      else if (typeof v === 'number' && !['step', 'epoch', 'img_per_s', 'time_s', 'loss', 'contrastive', 'lr'].includes(k)) extra.add(k);
      else if (typeof v === 'number') seen.add(k);
    }
  }
  const order = ['loss', 'contrastive', ...[...seen].filter((f) => f.startsWith('ifa.')).sort(), ...[...extra].sort(), 'lr'];
  return order.filter((f) => seen.has(f) || extra.has(f));
}

const SERIES_NAMES: Record<string, string> = { loss: 'total loss', contrastive: 'contrastive', lr: 'learning rate' };
const seriesName = (f: string): string => SERIES_NAMES[f] ?? (f.startsWith('ifa.') ? `IFA ${f.slice(4)}` : f);

/**
 * Training curves against step from metrics.jsonl rows: the loss terms in one panel, one line per
 * field, and the learning rate (field 'lr') in a panel below. fields default to defaultLossFields.
 */
export async function lossCurvesSvg(rows: Record<string, unknown>[], fields: string[] = defaultLossFields(rows), title = 'training'): Promise<string> {
  const stepped = rows.filter((r) => field(r, 'step') !== undefined);
  if (!stepped.length) throw new Error('lossCurvesSvg: no metrics rows with a step to plot');
  const keep = thin(stepped.length).map((i) => stepped[i]);
  const lossFields = fields.filter((f) => f !== 'lr');
  const points = (fs: string[]): { step: number; value: number; series: string }[] =>
    keep.flatMap((r) => fs.flatMap((f) => {
      const v = field(r, f);
      return v === undefined ? [] : [{ step: field(r, 'step')!, value: v, series: seriesName(f) }];
    }));
  const loss = points(lossFields);
  const lr = fields.includes('lr') ? points(['lr']) : [];
  if (!loss.length && !lr.length) throw new Error(`lossCurvesSvg: none of the fields ${fields.join(', ')} holds a number`);
  const x = { field: 'step', type: 'quantitative', title: 'step', axis: { format: 'd', tickMinStep: 1 } };
  const panels: Record<string, unknown>[] = [];
  if (loss.length) {
    panels.push({
      width: 480,
      height: 260,
      data: { values: loss },
      mark: { type: 'line', strokeWidth: 1.5 },
      encoding: {
        x,
        y: { field: 'value', type: 'quantitative', title: 'loss', scale: { zero: false } },
        color: { field: 'series', type: 'nominal', title: null, sort: lossFields.map(seriesName) },
      },
    });
  }
  if (lr.length) {
    panels.push({
      width: 480,
      height: 110,
      data: { values: lr },
      mark: { type: 'line', strokeWidth: 1.5, color: '#555' },
      encoding: { x, y: { field: 'value', type: 'quantitative', title: 'learning rate', axis: { format: '.2~e' } } },
    });
  }
  return vegaLiteToSvg({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title, background: 'white', vconcat: panels, resolve: { scale: { color: 'independent' } } });
}

/** Writes DIR/NAME.svg and DIR/NAME.png (2× resolution); each appears whole (temp file, rename). */
export async function writePlot(dir: string, name: string, svg: string): Promise<{ svg: string; png: string }> {
  const svgPath = join(dir, `${name}.svg`);
  const pngPath = join(dir, `${name}.png`);
  const png = await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
  for (const [path, data] of [[svgPath, svg], [pngPath, png]] as const) {
    // named as the checkpoint writer's temp files (.NAME.PID.HEX.tmp), so a run that starts after a
    // killed one removes what the kill left (src/train/trainer.ts removeStaleTempFiles)
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      writeFileSync(tmp, data);
      renameSync(tmp, path);
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  return { svg: svgPath, png: pngPath };
}

/** The rows of a metrics.jsonl (unparseable lines, e.g. a half-written last one, are skipped). */
export function readMetricsRows(file: string): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line);
      if (v && typeof v === 'object' && !Array.isArray(v)) rows.push(v);
    } catch {
      // a line still being written
    }
  }
  return rows;
}

/**
 * Draws DIR/loss.svg and DIR/loss.png from DIR/metrics.jsonl (the trainer calls this at every
 * checkpoint). Never throws: a failure is passed to warn and the run goes on. Returns the paths, or
 * null when nothing was drawn.
 */
export async function plotRunCurves(dir: string, warn: (line: string) => void, metricsFile = join(dir, 'metrics.jsonl'), basename = 'loss'): Promise<{ svg: string; png: string } | null> {
  try {
    // vega's scenegraph and SVG rendering run ~100–350 ms of synchronous JS: on the helper thread,
    // so a checkpoint's plot does not stall the trainer's event loop.
    const { offload } = await import('../core/offload.js');
    return await offload('plotRunCurves', { dir, metricsFile, basename });
  } catch (e) {
    warn(`warning: could not draw the training curves ${join(dir, basename)}.svg/.png (${(e as Error).message}); training goes on`);
    return null;
  }
}

/** plotRunCurves' work on the calling thread (the helper thread runs it): read, draw, write; throws. */
export async function plotRunCurvesHere(dir: string, metricsFile: string, basename: string): Promise<{ svg: string; png: string } | null> {
  const rows = readMetricsRows(metricsFile);
  if (!rows.length) return null;
  return writePlot(dir, basename, await lossCurvesSvg(rows));
}
