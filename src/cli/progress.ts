// A one-line progress display for training: step, loss parts, img/s, ETA. On a terminal it redraws
// one line on stderr; otherwise it prints a line every `every` steps.
import type { StepMetrics } from '../train/trainer.js';

function eta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

export function formatStep(m: StepMetrics, total: number): string {
  const ifa = Object.entries(m.ifa)
    .map(([k, v]) => `ifa ${k.replace('block', 'b')} ${v.toFixed(4)}`)
    .join('  ');
  const rate = m.time_s > 0 ? m.step / m.time_s : 0;
  const knn = m.knn ? (m.knn.accuracy !== undefined ? `  knn acc ${m.knn.accuracy.toFixed(3)}` : `  knn AUC ${(m.knn.meanAuc ?? NaN).toFixed(3)}`) : '';
  return `step ${String(m.step).padStart(String(total).length)}/${total}  loss ${m.loss.toFixed(4)}  contrastive ${m.contrastive.toFixed(4)}${ifa ? '  ' + ifa : ''}  lr ${m.lr.toExponential(2)}  ${m.img_per_s.toFixed(1)} img/s${knn}  ETA ${eta((total - m.step) / rate)}`;
}

export class Progress {
  private readonly tty = !!process.stderr.isTTY;
  constructor(private readonly every = 10) {}
  update(m: StepMetrics, total: number): void {
    const line = formatStep(m, total);
    if (this.tty) {
      const width = process.stderr.columns ?? 120;
      const filled = Math.round((m.step / total) * 20);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${line}`.slice(0, width - 1).padEnd(Math.min(width - 1, 160)));
    } else if (m.step === 1 || m.step % this.every === 0 || m.step === total) {
      process.stderr.write(line + '\n');
    }
  }
  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}
