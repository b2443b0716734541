// `ifa-ssl demo` (npm start): a short, real training run on the CPU backend with the ops that exist
// today — a two-layer MLP fitted by gradient descent to a fixed random teacher — printing the loss
// as it falls. MoCo v2 + IFA pretraining on synthetic radiographs replaces it when the models land.
import { parseArgs } from 'node:util';
import '../core/autograd.js';
import { keep, tidy } from '../core/engine.js';
import { memory } from '../core/memory.js';
import { randomNormal, tensor, type Tensor } from '../core/tensor.js';
import { add } from '../ops/add.js';
import { matmul } from '../ops/matmul.js';
import { mul } from '../ops/mul.js';
import { mean } from '../ops/reduce.js';
import { relu } from '../ops/relu.js';

export async function demo(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { steps: { type: 'string', default: '200' } }, strict: true });
  const steps = Number(values.steps);
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`--steps must be a positive integer, got ${values.steps}`);
  const batch = 64, din = 32, hidden = 64;
  const x = randomNormal([batch, din], { seed: 1 });
  const teacher = randomNormal([din, 1], { seed: 2 });
  const target = tidy(() => relu(matmul(x, teacher)));
  let w1 = randomNormal([din, hidden], { seed: 3, std: 1 / Math.sqrt(din), requiresGrad: true });
  let w2 = randomNormal([hidden, 1], { seed: 4, std: 1 / Math.sqrt(hidden), requiresGrad: true });
  const lr = tensor(-0.05, [1]);
  const minusOne = tensor(-1, [1]);
  console.log(`demo: fitting a 2-layer MLP (${din}→${hidden}→1, batch ${batch}) on the CPU backend for ${steps} steps`);
  const t0 = performance.now();
  let first = 0;
  let last = 0;
  for (let step = 1; step <= steps; step++) {
    const loss = tidy(() => {
      const h = relu(matmul(x, w1));
      const diff = add(matmul(h, w2), mul(target, minusOne));
      const l = mean(mul(diff, diff));
      l.backward();
      const n1 = keep(add(w1.detach(), mul(w1.grad!, lr)));
      const n2 = keep(add(w2.detach(), mul(w2.grad!, lr)));
      for (const w of [w1, w2]) {
        w.grad!.dispose();
        w.dispose();
      }
      n1.requiresGrad = true;
      n2.requiresGrad = true;
      w1 = n1;
      w2 = n2;
      return l.detach();
    });
    if (step === 1 || step % 25 === 0 || step === steps) {
      const v = (await loss.data())[0];
      if (step === 1) first = v;
      last = v;
      console.log(`step ${String(step).padStart(4)}  loss ${v.toFixed(5)}`);
    }
    loss.dispose();
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(`loss ${first.toFixed(4)} → ${last.toFixed(4)} in ${secs.toFixed(2)} s; live cpu buffers: ${memory().cpu.buffers}`);
  for (const t of [x, teacher, target, w1, w2, lr, minusOne] as Tensor[]) t.dispose();
  return last < first ? 0 : 1;
}
