// ROC pictures of prediction files: one model → DIR/roc.svg/.png with a curve per class; several
// models on the same images → DIR/roc-<class>.svg/.png per class with a curve per model.
import { rocCurves } from '../eval/report.js';
import type { Predictions } from '../eval/predictions.js';
import { rocSvg, writePlot } from './plot.js';

/** A class name as a file-name part: letters, digits, '-' and '_' kept, the rest '_'. */
export function slug(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]+/g, '_');
}

/** Writes the ROC pictures; returns the files written (SVG and PNG of each). */
export async function writeRocPlots(dir: string, models: { name: string; predictions: Predictions }[]): Promise<string[]> {
  if (!models.length) throw new Error('writeRocPlots: no predictions');
  const files: string[] = [];
  if (models.length === 1) {
    const curves = rocCurves(models[0].predictions);
    if (!curves.length) return files;
    const w = await writePlot(dir, 'roc', await rocSvg(curves, `ROC: ${models[0].name}`));
    return [w.svg, w.png];
  }
  const perModel = models.map((m) => new Map(rocCurves(m.predictions).map((c) => [c.name, c])));
  for (const cls of models[0].predictions.classes) {
    const curves = models.flatMap((m, i) => {
      const c = perModel[i].get(cls);
      return c ? [{ ...c, name: m.name }] : [];
    });
    if (!curves.length) continue;
    const w = await writePlot(dir, `roc-${slug(cls)}`, await rocSvg(curves, `ROC: ${cls}`));
    files.push(w.svg, w.png);
  }
  return files;
}
