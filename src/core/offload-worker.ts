// The helper thread of src/core/offload.ts: runs one task per message and replies with its result,
// its buffers transferred. Modules load on first use, so the thread starts quickly.
import { parentPort } from 'node:worker_threads';
import { transferables, type OffloadTask, type OffloadTasks } from './offload.js';

type Handler<T extends OffloadTask> = (args: OffloadTasks[T]['args']) => Promise<[OffloadTasks[T]['result'], ArrayBufferView[]]>;

const handlers: { [T in OffloadTask]: Handler<T> } = {
  async drawInit({ seed, plan }) {
    const { drawPlan } = await import('../nn/init.js');
    const values = drawPlan(seed, plan);
    return [values, values];
  },
  async readCheckpoint({ path }) {
    const { readCheckpointReport } = await import('../train/checkpoint.js');
    const r = readCheckpointReport(path);
    return [r, Object.values(r.records).map((t) => t.data as ArrayBufferView)];
  },
  async plotRunCurves({ dir, metricsFile, basename }) {
    const { plotRunCurvesHere } = await import('../report/plot.js');
    return [await plotRunCurvesHere(dir, metricsFile, basename), []];
  },
  async preprocess({ path, bytes, image, imageSize, clipPercentile, normalize: norm }) {
    const { decodeFile, decodeImage } = await import('../data/decode.js');
    const { normalize, preprocessCxr } = await import('../data/preprocess.js');
    const img = image ?? (path !== undefined ? await decodeFile(path) : await decodeImage(bytes!));
    const pre = preprocessCxr(img, { imageSize, clipPercentile });
    const out = norm ? normalize(pre).data : pre.data;
    return [out, [out]];
  },
};

parentPort!.on('message', (m: { id: number; task: OffloadTask; args: never }) => {
  const run = handlers[m.task] as Handler<OffloadTask> | undefined;
  const reply = run ? run(m.args) : Promise.reject(new Error(`unknown task ${m.task}`));
  reply.then(
    ([result, views]) => parentPort!.postMessage({ id: m.id, result }, transferables(views)),
    (e: unknown) => {
      const err = e instanceof Error ? e : new Error(String(e));
      parentPort!.postMessage({ id: m.id, error: { name: err.name, message: err.message, code: (err as NodeJS.ErrnoException).code } });
    },
  );
});
