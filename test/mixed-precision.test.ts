// Mixed-precision training (issue 15 item 2; src/train/precision.ts) on the CPU reference:
// - a bf16 ResNet keeps float32 master weights, computes its stages in bfloat16 (the IFA taps) and
//   its pooled features and head in float32, and its output is the fp32 model's within bf16 rounding;
// - at the same weights, the bf16 gradients are float32 and point where the fp32 ones do (cosine);
// - MoCo v2 + IFA trained 200 steps in bf16 stays within a stated band of the fp32 run's losses;
// - fp16 with dynamic loss scaling: GradScaler's rules (PyTorch's), a skipped step changes nothing,
//   200 fp16 steps stay within the same band, and the scaler's state resumes exactly;
// - the precision a run may use is checked by name, tf32 on the CPU is fp32 exactly, and a bf16 run's
//   checkpoint holds float32 weights that resume.
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad, tidy } from '../src/core/engine.js';
import { randomNormal } from '../src/core/tensor.js';
import { ResNet50, parseConfig, readAnyCheckpoint, Trainer, type ConfigInput } from '../src/index.js';
import { sum } from '../src/ops/reduce.js';
import { mul } from '../src/ops/mul.js';
import { resolvePrecision } from '../src/train/precision.js';
import { GradScaler } from '../src/optim/grad-scaler.js';
import { SGD } from '../src/optim/sgd.js';
import { updateAfterBackward } from '../src/ssl/moco.js';
import { tensor } from '../src/core/tensor.js';
import { cpuTests } from './helpers.js';

const test = cpuTests(import.meta.url);
const model = { layers: [1, 1, 1, 1] as [number, number, number, number], width: 8, hidden: 32, dim: 16, seed: 3 };

function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

test('a bf16 ResNet: float32 master weights, bfloat16 stages, float32 pooled features and head, the fp32 output within bf16 rounding', async () => {
  const f32 = new ResNet50(model);
  const b16 = new ResNet50({ ...model, dtype: 'bfloat16' });
  const x = randomNormal([8, 64, 64, 1], { seed: 1 });
  try {
    const [want, got] = await Promise.all(
      [f32, b16].map((m) =>
        noGrad(() => {
          const r = m.forwardWithTaps(x, [3]);
          if (m === b16) {
            assert.is(r.taps[0].dtype, 'bfloat16', 'the stage-3 tap');
            assert.is(r.pooled.dtype, 'float32');
            assert.is(r.out.dtype, 'float32');
          }
          const d = r.out.data();
          tidy(() => r.taps.concat([r.pooled, r.out]).forEach((t) => t.dispose()));
          return d;
        }),
      ),
    );
    assert.ok(b16.parameters().every((p) => p.dtype === 'float32'), 'master weights are float32');
    // bfloat16 keeps 8 significant bits: one rounding moves a value by 0.17 % RMS, a convolution's or
    // BN's output by 0.3 %; through the 17 layers the output moves by 2.9 % (measured), not by its size.
    const e = relErr(got, want);
    assert.ok(e > 0 && e < 0.05, `relative error ${e}`);
  } finally {
    x.dispose();
    f32.dispose();
    b16.dispose();
  }
});

test('at the same weights, bf16 gradients are float32 and point where the fp32 ones do', async () => {
  const grads = async (dtype: 'float32' | 'bfloat16'): Promise<Map<string, Float32Array>> => {
    const m = new ResNet50({ ...model, dtype });
    const x = randomNormal([8, 64, 64, 1], { seed: 2 });
    const w = randomNormal([8, 16], { seed: 5 });
    try {
      tidy(() => {
        // A loss through the head, so every layer gets a gradient.
        const loss = sum(mul(m.forward(x), w));
        mul(loss, loss).backward();
      });
      const out = new Map<string, Float32Array>();
      for (const [n, p] of m.namedParameters()) {
        assert.ok(p.grad, `${n} has a gradient`);
        assert.is(p.grad!.dtype, 'float32', `${n}'s gradient dtype`);
        out.set(n, await p.grad!.data());
      }
      return out;
    } finally {
      x.dispose();
      w.dispose();
      m.dispose();
    }
  };
  const want = await grads('float32');
  const got = await grads('bfloat16');
  for (const name of ['conv1.weight', 'layer1.0.conv2.weight', 'layer3.0.bn2.weight', 'layer4.0.conv3.weight', 'fc.0.weight', 'fc.2.weight']) {
    const c = cosine(got.get(name)!, want.get(name)!);
    // Measured: 0.90 (conv1, the deepest backward), 0.90, 0.95, 0.96, 0.98, 0.9997 (the last layer,
    // float32 with a float32 input). The random net's gradients are sums that mostly cancel over the
    // batch and through BN's centring, so bf16's 0.2–0.3 % per layer shows up larger here; a lost,
    // mis-cast or mis-scaled gradient gives a cosine near 0 or a wrong norm.
    assert.ok(c > (name === 'fc.2.weight' ? 0.999 : 0.85), `${name}: cosine ${c}`);
    const norm = (a: Float32Array) => Math.sqrt(a.reduce((t, v) => t + v * v, 0));
    const ratio = norm(got.get(name)!) / norm(want.get(name)!);
    assert.ok(ratio > 0.8 && ratio < 1.25, `${name}: |bf16 grad| / |fp32 grad| = ${ratio}`);
  }
});

const root = mkdtempSync(join(tmpdir(), 'ifa-mixed-'));
const tiny: ConfigInput = {
  data: 'synthetic',
  syntheticImages: 64,
  imageSize: 32,
  batch: 8,
  queueSize: 64,
  layers: [1, 1, 1, 1],
  width: 8,
  hidden: 32,
  dim: 16,
  workers: 1,
  lr: 0.03,
  checkpointEvery: 100000,
};

async function run(extra: ConfigInput): Promise<number[]> {
  const r = await new Trainer(parseConfig({ ...tiny, ...extra })).run({ onLog: () => {} });
  return r.history.map((m) => m.loss);
}

// The band tests: 200 steps each against one fp32 run (made once). They check numerics, not memory,
// so a sanitizer build (LD_PRELOAD, 3–5× slower) leaves them to the plain suite; the resume tests
// below still take the bf16 and fp16 paths there.
const BAND_STEPS = 200;
let fp32Band: Promise<number[]> | undefined;
const fp32Reference = (): Promise<number[]> => (fp32Band ??= run({ steps: BAND_STEPS, out: join(root, 'band-fp32') }));
const bandTest = (name: string, fn: () => Promise<void>): void => {
  if (process.env.LD_PRELOAD) test.skip(`${name} (skipped under LD_PRELOAD: numerics, not memory)`, fn);
  else test(name, fn);
};

bandTest(`MoCo v2 + IFA, ${BAND_STEPS} steps: the bf16 run stays within a band of the fp32 run`, async () => {
  const steps = BAND_STEPS;
  const fp32 = await fp32Reference();
  const bf16 = await run({ steps, precision: 'bf16', out: join(root, 'bf16') });
  // Step 1 is the same weights and data: only the forward's rounding differs.
  assert.ok(Math.abs(bf16[0] - fp32[0]) / fp32[0] < 0.02, `step 1: ${bf16[0]} vs ${fp32[0]}`);
  // Later the runs part (the tiny net is chaotic): each 25-step mean within 0.3 nats (~6 %) of the
  // fp32 run's; measured ≤ 0.24 here over 300 steps, about what two fp32 runs from seeds 0 and 1
  // differ by (≤ 0.17). This tiny net learns little in 300 steps (an lr-1e-6 run stays within 0.35 of the
  // trained one), so the band says the bf16 run is as stable as the fp32 one; that its updates are
  // the fp32 ones is the gradient test's job above.
  const W = 25;
  const mean = (a: number[], s: number) => a.slice(s, s + W).reduce((x, y) => x + y, 0) / W;
  const gaps: string[] = [];
  for (let s = 0; s < steps; s += W) {
    const d = mean(bf16, s) - mean(fp32, s);
    gaps.push(d.toFixed(3));
    assert.ok(Math.abs(d) < 0.3, `steps ${s + 1}–${s + W}: bf16 ${mean(bf16, s).toFixed(4)} vs fp32 ${mean(fp32, s).toFixed(4)}`);
  }
  assert.ok(bf16.every(Number.isFinite));
  console.log(`  bf16 − fp32, 25-step means: ${gaps.join(' ')}`);
});

test('tf32 on the cpu is fp32 exactly; the default is fp32 here; unknown precisions are refused by name', async () => {
  const fp32 = await run({ steps: 3, out: join(root, 'p-fp32') });
  const tf32 = await run({ steps: 3, precision: 'tf32', out: join(root, 'p-tf32') });
  assert.equal(tf32, fp32);
  assert.is(resolvePrecision(undefined, 'cpu'), 'fp32');
  assert.is(resolvePrecision('bf16', 'cpu'), 'bf16');
  assert.is(resolvePrecision('fp16', 'cpu'), 'fp16');
  assert.throws(() => resolvePrecision('fp8' as 'fp16', 'cpu'), /precision must be one of fp32, tf32, bf16, fp16, got 'fp8'/);
  assert.throws(() => parseConfig({ precision: 'fp8' }), /precision/);
});

test("GradScaler: PyTorch's rules — halve and skip on inf/NaN, double after growthInterval clean steps, exact unscaling", async () => {
  const s = new GradScaler({ growthInterval: 3 });
  assert.is(s.scale, 65536);
  const seq: number[] = [];
  for (const finite of [true, true, false, true, true, true, true]) {
    s.update(finite);
    seq.push(s.scale);
  }
  assert.equal(seq, [65536, 65536, 32768, 32768, 32768, 65536, 65536]);
  assert.equal(s.state(), { scale: 65536, growthTracker: 1 });
  assert.throws(() => s.load({ scale: -1, growthTracker: 0 }), /saved scale must be a positive finite number/);
  assert.throws(() => s.load({ scale: 8, growthTracker: 3 }), /growthTracker must be an integer in \[0, 3\)/);

  // An update after backward: finite gradients are divided by the scale exactly and the step runs.
  const p = tensor([1, 2, 3], [3], { requiresGrad: true });
  const opt = new SGD([p], { lr: 0.5, momentum: 0 });
  const losses = { loss: 1, contrastive: 1, ifa: [] };
  try {
    p.grad = tensor([65536 * 0.25, -65536, 0], [3]);
    const r = await updateAfterBackward(opt, s, Promise.resolve(losses));
    assert.equal({ lossScale: r.lossScale, skipped: r.skipped }, { lossScale: 65536, skipped: false });
    assert.equal(Array.from(await p.data()), [1 - 0.125, 2 + 0.5, 3]);
    assert.is(opt.stepCount, 1);
    // An inf gradient: nothing changes but the scale, which halves; the gradients are dropped.
    p.grad = tensor([1, Infinity, 2], [3]);
    const skipped = await updateAfterBackward(opt, s, Promise.resolve(losses));
    assert.is(skipped.skipped, true);
    assert.equal(Array.from(await p.data()), [1 - 0.125, 2 + 0.5, 3]);
    assert.is(opt.stepCount, 1);
    assert.is(p.grad, null);
    assert.is(s.scale, 32768);
  } finally {
    opt.dispose();
    p.dispose();
  }
});

bandTest(`fp16 MoCo v2 + IFA, ${BAND_STEPS} steps: within the band of the fp32 run, the scale following the rules`, async () => {
  const steps = BAND_STEPS;
  const fp32 = await fp32Reference();
  const r = await new Trainer(parseConfig({ ...tiny, steps, precision: 'fp16', out: join(root, 'h-fp16') })).run({ onLog: () => {} });
  const h = r.history;
  const W = 25;
  const mean = (a: number[], from: number) => a.slice(from, from + W).reduce((x, y) => x + y, 0) / W;
  const fp16 = h.map((m) => m.loss);
  for (let s = 0; s < steps; s += W) assert.ok(Math.abs(mean(fp16, s) - mean(fp32, s)) < 0.3, `steps ${s + 1}–${s + W}: fp16 ${mean(fp16, s)} vs fp32 ${mean(fp32, s)}`);
  assert.is(h[0].loss_scale, 65536);
  for (let i = 1; i < h.length; i++) assert.is(h[i].loss_scale, h[i - 1].skipped ? h[i - 1].loss_scale! / 2 : h[i - 1].loss_scale, `step ${i + 1}'s scale`);
  const skipped = h.filter((m) => m.skipped).length;
  // Measured: step 1 overflows float16 at 2^16 and is skipped; 2^15 then holds.
  assert.ok(skipped >= 1 && skipped < 10, `${skipped} skipped steps`);
  console.log(`  fp16: ${skipped} skipped step(s), final scale ${h[h.length - 1].loss_scale}`);
});

test("an fp16 run's checkpoint holds the scaler's state, and the run resumes exactly", async () => {
  const straight = await run({ steps: 4, precision: 'fp16', out: join(root, 'f-straight') });
  const out = join(root, 'f-split');
  const first = new Trainer(parseConfig({ ...tiny, steps: 4, precision: 'fp16', out }));
  await first.run({ onLog: () => {}, onStep: (m) => (m.step >= 2 ? first.requestStop() : undefined) });
  const ck = readAnyCheckpoint(join(out, 'last.safetensors'));
  assert.equal(JSON.parse(ck.metadata.gradScaler), { scale: 32768, growthTracker: 1 });
  const rest = await run({ steps: 4, precision: 'fp16', out, resume: join(out, 'last.safetensors') });
  assert.equal(rest.slice(-2), straight.slice(-2));
});

test('a bf16 run checkpoints float32 weights, and resumes exactly', async () => {
  const straight = await run({ steps: 4, precision: 'bf16', out: join(root, 'r-straight') });
  const out = join(root, 'r-split');
  const first = new Trainer(parseConfig({ ...tiny, steps: 4, precision: 'bf16', out }));
  await first.run({ onLog: () => {}, onStep: (m) => (m.step >= 2 ? first.requestStop() : undefined) });
  const ck = readAnyCheckpoint(join(out, 'last.safetensors'));
  assert.is(ck.records['conv1.weight'].dtype, 'F32');
  const rest = await run({ steps: 4, precision: 'bf16', out, resume: join(out, 'last.safetensors') });
  assert.equal(rest.slice(-2), straight.slice(-2));
});
test.run();
