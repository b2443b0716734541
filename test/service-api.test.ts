// The API a Node service uses (issue 17 items 2–3): ResNet50.create / MoCo.create / SimCLR.create
// draw the same initial values as the synchronous constructors, bit for bit; Encoder.load + embed
// give the values of the model path the CLI used before (sync read, new ResNet50, importModule,
// decodeFile + preprocessCxr + normalize, one forward per image), leak no tensor, and emptyCache()
// gives the CPU allocator's cached bytes back; Trainer.run stops on an AbortSignal like requestStop.
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Encoder, MoCo, ResNet50, SimCLR, Trainer, decodeFile, emptyCache, exportModule, importModule, ohwiToOihw, memory, noGrad, parseConfig, preprocessCxr,
  preprocessCxrAsync, readAnyCheckpoint, readAnyCheckpointAsync, tensor, writeCheckpoint, type Module, type Tensor,
} from '../src/index.js';
import { normalize } from '../src/data/preprocess.js';
import { STATE_PREFIX } from '../src/train/checkpoint.js';
import { packageRoot } from '../src/native.js';
import { formulaRecords } from './model-init.js';
import { collectGarbage, cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);
const root = mkdtempSync(join(tmpdir(), 'ifa-service-'));
const images = join(packageRoot(), 'test', 'fixtures', 'data');
const files = ['gray16.png', 'rgb8.png', 'mono2_implicit.dcm'].map((f) => join(images, f));

/** The promise rejects with an Error whose message matches. */
async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  let err: unknown = null;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, `expected a rejection matching ${re}`);
  assert.match((err as Error).message, re);
}

async function values(t: Tensor): Promise<Float32Array> {
  return t.data();
}

async function assertSameState(a: Module, b: Module, what: string): Promise<void> {
  const sa = [...a.stateDict()], sb = [...b.stateDict()];
  assert.equal(sa.map(([k]) => k), sb.map(([k]) => k), `${what}: the same keys`);
  for (let i = 0; i < sa.length; i++) {
    const [x, y] = [await values(sa[i][1]), await values(sb[i][1])];
    assert.ok(x.length === y.length && x.every((v, j) => Object.is(v, y[j])), `${what}: ${sa[i][0]} differs`);
  }
}

test('ResNet50.create draws the constructor\'s weights bit for bit (full ResNet-50 and a small linear-head model)', async () => {
  for (const opts of [{ seed: 3 }, { seed: 11, layers: [1, 2, 1, 1] as [number, number, number, number], width: 8, head: 'linear' as const, dim: 10, inChannels: 3 }]) {
    const a = await ResNet50.create(opts);
    const b = new ResNet50(opts);
    await assertSameState(a, b, JSON.stringify(opts));
    const other = new ResNet50({ ...opts, seed: opts.seed + 1 });
    const first = (m: ResNet50) => values(m.stateDict().get('layer1.0.conv2.weight')!);
    assert.not.equal(Array.from(await first(a)), Array.from(await first(other)), 'another seed gives other weights');
    for (const m of [a, b, other]) m.dispose();
  }
});

test('MoCo.create and SimCLR.create give the constructors\' encoders and queue bit for bit', async () => {
  const opts = { model: { layers: [1, 1, 1, 1] as [number, number, number, number], width: 8, hidden: 32, dim: 16 }, queueSize: 64, seed: 5 };
  const a = await MoCo.create(opts);
  const b = new MoCo(opts);
  await assertSameState(a.encoderQ, b.encoderQ, 'MoCo encoderQ');
  await assertSameState(a.encoderK, b.encoderK, 'MoCo encoderK');
  await assertSameState(a.encoderK, a.encoderQ, 'the key encoder starts as a copy');
  assert.equal(Array.from(await a.queue.data()), Array.from(await b.queue.data()), 'MoCo queue');
  a.dispose();
  b.dispose();
  const s = await SimCLR.create(opts);
  const t = new SimCLR(opts);
  await assertSameState(s.encoder, t.encoder, 'SimCLR encoder');
  s.dispose();
  t.dispose();
});

test('exportModule / importModule (layout changed in slices) equal one whole-tensor ohwiToOihw / oihwToOhwi', async () => {
  const m = new ResNet50({ seed: 4, layers: [1, 1, 1, 1], width: 64, head: 'none' });
  const rec = await exportModule(m);
  for (const [k, t] of m.stateDict()) {
    const whole = t.rank === 4 ? ohwiToOihw({ shape: [...t.shape], data: await t.data() }) : { shape: [...t.shape], data: await t.data() };
    assert.equal(rec[k].shape, whole.shape, k);
    assert.ok((rec[k].data as Float32Array).every((v, i) => Object.is(v, whole.data[i])), `${k} (export)`);
  }
  const back = new ResNet50({ seed: 9, layers: [1, 1, 1, 1], width: 64, head: 'none' });
  await importModule(back, rec as never);
  await assertSameState(back, m, 'import of the export');
  m.dispose();
  back.dispose();
});

// A small encoder with the fixtures' formula weights (non-trivial BN statistics), as a checkpoint.
const config = { imageSize: 32, inChannels: 1, layers: [1, 1, 1, 1], width: 8, hidden: 32, dim: 16, head: 'mlp' };
const ckpt = join(root, 'encoder.safetensors');

async function referenceEmbedding(path: string, layer: 'pool' | 'head'): Promise<Float32Array> {
  // The model path `ifa-ssl embed` took before Encoder, verbatim in effect.
  const ck = readAnyCheckpoint(ckpt);
  const records = Object.fromEntries(Object.entries(ck.records).filter(([k]) => !k.startsWith(STATE_PREFIX)));
  const model = new ResNet50({ inChannels: 1, layers: [1, 1, 1, 1], width: 8, hidden: 32, dim: 16, head: 'mlp' });
  await importModule(model, records);
  model.eval();
  const img = normalize(preprocessCxr(await decodeFile(path), { imageSize: 32 }));
  const x = tensor(img.data, [1, 32, 32, 1]);
  const out = noGrad(() => model.forwardWithTaps(x));
  const v = await (layer === 'pool' ? out.pooled : out.out).data();
  for (const t of new Set([x, out.pooled, out.out])) t.dispose();
  model.dispose();
  return v;
}

function relErr(a: Float32Array, b: Float32Array): number {
  let err = 0, ref = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    ref = Math.max(ref, Math.abs(b[i]));
  }
  return err / ref;
}

test('Encoder.embed equals the CLI\'s model path (paths, bytes, decoded images, batches), pool and head', async () => {
  const shape = new ResNet50({ inChannels: 1, layers: [1, 1, 1, 1], width: 8, hidden: 32, dim: 16, head: 'mlp' });
  await writeCheckpoint(ckpt, formulaRecords(shape, 'service'), { method: 'moco', config, step: 0 });
  shape.dispose();
  const enc = await Encoder.load(ckpt, { backend: 'cpu', batchSize: 2 });
  assert.is(enc.imageSize, 32, "the checkpoint's config.imageSize");
  assert.equal(enc.missing, []);
  for (const layer of ['pool', 'head'] as const) {
    const want = await Promise.all(files.map((f) => referenceEmbedding(f, layer)));
    assert.is(want[0].length, layer === 'pool' ? 256 : 16);
    assert.is(enc.dim(layer), want[0].length);
    // One at a time: the same operations as the reference, so the same bits.
    for (let i = 0; i < files.length; i++) assert.equal(Array.from(await enc.embed(files[i], { layer })), Array.from(want[i]), `${layer} ${files[i]}`);
    // A list of three in batches of two: per-sample math, so equal up to float32 reordering.
    const got = await enc.embed(files, { layer });
    assert.is(got.length, 3);
    got.forEach((g, i) => assert.ok(relErr(g, want[i]) < 1e-5, `${layer} batched ${files[i]}: ${relErr(g, want[i])}`));
    const bytes = await enc.embed(readFileSync(files[0]), { layer });
    assert.equal(Array.from(bytes), Array.from(want[0]), 'from the encoded bytes');
    const decoded = await enc.embed(await decodeFile(files[2]), { layer });
    assert.equal(Array.from(decoded), Array.from(want[2]), 'from a decoded image');
  }
  const pre = await preprocessCxrAsync(files[1], { imageSize: 32 });
  assert.equal(Array.from(pre.data), Array.from(preprocessCxr(await decodeFile(files[1]), { imageSize: 32 }).data), 'preprocessCxrAsync = preprocessCxr');
  await rejects(enc.embed(join(images, 'corrupt.png')), /corrupt\.png/);
  await rejects(enc.embed(files[0], { layer: 'fc' as never }), /layer must be 'pool' or 'head'/);
  enc.dispose();
  await rejects(enc.embed(files[0]), /disposed/);
});

test('Encoder leaks no tensor: memory() counts return to the baseline after dispose; emptyCache frees the cached bytes', async () => {
  await collectGarbage();
  const before = memory();
  const enc = await Encoder.load(ckpt, { backend: 'cpu', batchSize: 2 });
  for (let i = 0; i < 3; i++) await enc.embed([...files, ...files]);
  await enc.embed(files[0], { layer: 'head' });
  const during = memory();
  assert.ok(during.tensors > before.tensors, 'the weights are live while loaded');
  enc.dispose();
  const after = memory();
  assert.is(after.tensors, before.tensors, 'live tensors back to the baseline');
  assert.is(after.cpu.buffers, before.cpu.buffers, 'CPU buffers back to the baseline');
  assert.is(after.cpu.bytes, before.cpu.bytes, 'CPU bytes back to the baseline');
  await collectGarbage();
  assert.is(memory().leaked, before.leaked, 'nothing was left to the garbage collector');
  assert.ok((memory().cpu.cachedBytes ?? 0) > 0, 'freed blocks are cached');
  await emptyCache();
  assert.is(memory().cpu.cachedBytes, 0, 'emptyCache gives them back');
});

test('Encoder.load refuses what the CLI refused, with its messages', async () => {
  const ck = readAnyCheckpoint(ckpt);
  const bad = join(root, 'nan.safetensors');
  const recs = { ...ck.records };
  const w = recs['layer1.0.conv1.weight'];
  const data = Float32Array.from(w.data as Float32Array);
  data[3] = NaN;
  recs['layer1.0.conv1.weight'] = { ...w, data };
  await writeCheckpoint(bad, recs, { config });
  await rejects(Encoder.load(bad), /non-finite weight \(layer1\.0\.conv1\.weight\[3\] = NaN\)/);
  const edited = join(root, 'edited.safetensors');
  await writeCheckpoint(edited, ck.records, { config: { ...config, hidden: 64 } });
  await rejects(Encoder.load(edited), /config\.hidden is 64 but the tensors say 32/);
  await rejects(Encoder.load(join(root, 'missing.safetensors')), /ENOENT|no such file/);
  await rejects(readAnyCheckpointAsync(join(images, 'corrupt.png')), /safetensors .*corrupt\.png/);
});

test('Trainer.run stops on an AbortSignal after the current step and writes its checkpoint', async () => {
  const tiny = { data: 'synthetic', syntheticImages: 16, imageSize: 32, batch: 4, steps: 50, queueSize: 16, layers: [1, 1, 1, 1], width: 8, hidden: 32, dim: 16, workers: 1, checkpointEvery: 100, bnGroups: 2 };
  const controller = new AbortController();
  const trainer = new Trainer(parseConfig({ ...tiny, out: join(root, 'abort') } as never));
  const r = await trainer.run({ onLog: () => {}, signal: controller.signal, onStep: (m) => m.step === 2 && controller.abort() });
  assert.is(r.steps, 2);
  assert.ok(r.stopped);
  assert.is(readAnyCheckpoint(r.checkpoint).metadata.step, '2');
  const early = new Trainer(parseConfig({ ...tiny, out: join(root, 'aborted') } as never));
  const r2 = await early.run({ onLog: () => {}, signal: AbortSignal.abort() });
  assert.is(r2.steps, 0, 'an already aborted signal trains nothing');
  assert.ok(r2.stopped);
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
