// The loader's worker: rebuilds the dataset from its descriptor, then for each batch task loads every
// sample (preprocess cache → decode on a miss), augments two views and writes them, normalised, into
// batch buffers that are transferred (not copied) back. Nothing here runs on the main thread.
import { parentPort } from 'node:worker_threads';
import { Rng } from '../core/random.js';
import { compileAugmentations, mixSeed, type Augmenter } from './augment.js';
import { loadPreprocessed, loadPreprocessedWords, PreprocessCache, type SampleLoadOptions } from './cache.js';
import type { PlanStep } from './augment/plan.js';
import { nowUs } from '../core/clock.js';
import type { BatchResult, WorkerConfig, WorkerRequest, WorkerSpan } from './protocol.js';

let config: WorkerConfig | null = null;
let augmenter: Augmenter | null = null;
let loadOpts: SampleLoadOptions | null = null;
/** Indices known to fail (an optimisation only: they would fail again). */
const bad = new Map<number, string>();
let queue: Promise<void> = Promise.resolve();

function datasetLength(c: WorkerConfig): number {
  return c.dataset.kind === 'files' ? c.dataset.paths.length : c.dataset.length;
}
function sampleName(c: WorkerConfig, i: number): string {
  return c.dataset.kind === 'files' ? c.dataset.paths[i] : `synthetic:${c.dataset.seed}:${i}`;
}

let baseBuffer = new Float32Array(0);

async function runBatch(id: number, epoch: number, items: number[], buffers?: ArrayBuffer[], trace = false): Promise<BatchResult> {
  const c = config!;
  const S = c.imageSize, px = S * S, N = datasetLength(c);
  const bytes = items.length * px * 4;
  // Recycled buffers skip a 2 × B·S² allocation (zeroing and page faults) per batch.
  const onDevice = c.deviceAugment;
  const views = [0, 1].map((v) => (onDevice ? new Float32Array(0) : buffers?.[v]?.byteLength === bytes ? new Float32Array(buffers[v]) : new Float32Array(items.length * px)));
  // On a device: the words go up as they are and the views' plans go with them (drawn here, from the
  // same seeds as the views the CPU would make).
  const words = onDevice ? new Uint16Array(items.length * px) : null;
  const plans: [PlanStep[][], PlanStep[][]] = [[], []];
  if (baseBuffer.length !== px) baseBuffer = new Float32Array(px);
  const indices: number[] = [];
  const skipped: BatchResult['skipped'] = [];
  let cacheHits = 0, cacheMisses = 0, loadMs = 0, augmentMs = 0, failed = 0, failedAfterLast = 0;
  const spans: WorkerSpan[] | undefined = trace ? [] : undefined;
  for (const original of items) {
    // The sample itself, else a deterministic sequence of substitutes (the same whichever worker runs it).
    let chosen = -1;
    let base: Float32Array | null = null;
    for (let k = 0; k <= c.maxSubstitutes && chosen < 0; k++) {
      const idx = k === 0 ? original : mixSeed(c.seed, epoch, original, k, 0x5b5717) % N;
      if (bad.has(idx)) {
        failed++;
        failedAfterLast++;
        continue;
      }
      const t0 = performance.now();
      const traceBegin = spans ? nowUs() : 0;
      try {
        const slot = indices.length;
        const s = words
          ? { data: baseBuffer, cacheHit: await loadPreprocessedWords(c.dataset, idx, loadOpts!, words.subarray(slot * px, (slot + 1) * px)) }
          : await loadPreprocessed(c.dataset, idx, loadOpts!, baseBuffer);
        spans?.push({ name: 'load', beginUs: traceBegin, endUs: nowUs(), index: idx, cacheHit: s.cacheHit });
        if (s.cacheHit) cacheHits++;
        else cacheMisses++;
        base = s.data;
        chosen = idx;
        failedAfterLast = 0;
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        bad.set(idx, message);
        failed++;
        failedAfterLast++;
        skipped.push({ index: idx, name: sampleName(c, idx), message });
      }
      loadMs += performance.now() - t0;
    }
    if (chosen < 0 || !base) continue;
    const t1 = performance.now();
    const augmentBegin = spans ? nowUs() : 0;
    const slot = indices.length;
    for (let v = 0; v < 2; v++) {
      const rng = new Rng(mixSeed(c.seed, epoch, chosen, v));
      if (words) plans[v].push(augmenter!.plan(S, S, rng));
      else augmenter!.runInto(base, S, S, rng, views[v], slot * px, c.mean, c.std);
    }
    augmentMs += performance.now() - t1;
    spans?.push({ name: 'augment', beginUs: augmentBegin, endUs: nowUs(), index: chosen });
    indices.push(chosen);
  }
  const n = indices.length;
  return {
    type: 'batch',
    id,
    indices,
    view1: n === items.length ? views[0] : views[0].slice(0, n * px),
    view2: n === items.length ? views[1] : views[1].slice(0, n * px),
    ...(words ? { words: n === items.length ? words : words.slice(0, n * px), plans } : {}),
    skipped,
    failed,
    failedAfterLast,
    stats: { cacheHits, cacheMisses, loadMs, augmentMs },
    ...(spans ? { trace: spans } : {}),
  };
}

parentPort!.on('message', (msg: WorkerRequest) => {
  if (msg.type === 'init') {
    try {
      config = msg.config;
      augmenter = compileAugmentations(config.augmentations);
      loadOpts = { imageSize: config.imageSize, clipPercentile: config.clipPercentile, cache: config.cacheDir ? new PreprocessCache(config.cacheDir) : null };
      parentPort!.postMessage({ type: 'ready' });
    } catch (e) {
      parentPort!.postMessage({ type: 'fatal', message: (e as Error).message });
    }
    return;
  }
  if (msg.type === 'batch') {
    // One batch at a time: the work buffers are shared, and interleaving would gain nothing.
    queue = queue.then(() =>
      runBatch(msg.id, msg.epoch, msg.items, msg.buffers, msg.trace).then(
        (r) => parentPort!.postMessage(r, [r.view1.buffer as ArrayBuffer, r.view2.buffer as ArrayBuffer, ...(r.words ? [r.words.buffer as ArrayBuffer] : [])]),
        (e) => parentPort!.postMessage({ type: 'error', id: msg.id, message: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
      ),
    );
  }
});
