// Issue 17 item 4: ImageNet / torchvision starts. A 3-channel PyTorch checkpoint (a tiny torchvision
// ResNet made by test/fixtures/make_imagenet_fixture.py) goes into the 1-channel radiograph model with
// conv1 summed over RGB (timm's adapt_input_conv), which gives exactly the 3-channel model's features
// on the gray image replicated to RGB; --in-channels 3 trains on 1-channel data by replicating it;
// shape errors quote PyTorch's (out, in, kH, kW) layout.
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../src/core/engine.js';
import { ResNet50, exportModule, importModule, readAnyCheckpoint, tensor } from '../src/index.js';
import { packageRoot } from '../src/native.js';
import { loadEncoderWeights } from '../src/train/trainer.js';
import { assertClose, cliTests } from './helpers.js';

const test = cliTests(import.meta.url);

const root = mkdtempSync(join(tmpdir(), 'ifa-imagenet-'));
const bin = join(packageRoot(), 'bin', 'ifa-ssl.js');
const dir = join(packageRoot(), 'test', 'fixtures', 'imagenet');
const pth = join(dir, 'resnet_tiny_rgb.pth');
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { conv1_summed: number[]; conv1_summed_shape: number[]; input: number[]; input_shape: number[]; pooled: number[] };
const model = { layers: [1, 1, 1, 1] as [number, number, number, number], width: 4 };

function cli(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}` };
}

test('--init with a 3-channel torchvision checkpoint sums conv1 over RGB: the features of the RGB model on the replicated image', async () => {
  const net = new ResNet50({ ...model, inChannels: 1, head: 'none' });
  const lines: string[] = [];
  await loadEncoderWeights(net, pth, (s) => lines.push(s));
  assert.ok(lines.some((l) => /conv1\.weight \[4,3,7,7\] summed over its RGB input channels into \[4,1,7,7\] .*adapt_input_conv/.test(l)), lines.join('\n'));
  const conv1 = (await exportModule(net))['conv1.weight'] as { shape: number[]; data: Float32Array };
  assert.equal(conv1.shape, expected.conv1_summed_shape);
  assertClose(conv1.data, expected.conv1_summed, { atol: 1e-6, rtol: 1e-6 }, 'conv1 summed over RGB vs torch');
  net.eval();
  const x = tensor(Float32Array.from(expected.input), expected.input_shape);
  const { pooled } = noGrad(() => net.forwardWithTaps(x));
  const got = await pooled.data();
  const scale = Math.max(...expected.pooled.map(Math.abs));
  assertClose(got, expected.pooled, { atol: 1e-4 * scale, rtol: 0 }, 'pooled features vs the 3-channel torch model on RGB-replicated input');
  x.dispose();
  pooled.dispose();
  net.dispose();
});

test('a conv1 that no rule adapts is refused in PyTorch layout, naming the channels and the flag', async () => {
  const net = new ResNet50({ ...model, inChannels: 1, head: 'none' });
  const { records } = readAnyCheckpoint(pth);
  try {
    await importModule(net, records);
    assert.unreachable('a 3-channel conv1 loaded into a 1-channel model without adaptation');
  } catch (e) {
    assert.match((e as Error).message, /conv1\.weight has shape \[4,3,7,7\] in the checkpoint but \[4,1,7,7\] in the model \(PyTorch's layout: out, in, kH, kW\); the checkpoint takes 3-channel images, the model 1 \(set inChannels \/ --in-channels 3\)/);
  } finally {
    net.dispose();
  }
});

const tiny = ['--layers', '1,1,1,1', '--width', '4', '--hidden', '16', '--dim', '8', '--image-size', '32', '--batch', '4', '--queue-size', '8', '--synthetic-images', '8', '--workers', '1', '--steps', '2'];

test('pretrain --init CKPT.pth (ImageNet, 3 channels) trains the 1-channel model and logs the adaptation', () => {
  const out = join(root, 'rgb-to-gray');
  const r = cli(['pretrain', ...tiny, '--init', pth, '--out', out]);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /init: conv1\.weight \[4,3,7,7\] summed over its RGB input channels/);
  assert.equal(readAnyCheckpoint(join(out, 'last.safetensors')).records['conv1.weight'].shape, [4, 1, 7, 7]);
});

test('--in-channels 3 on 1-channel radiographs replicates the channel (with and without an RGB --init)', () => {
  for (const init of [[], ['--init', pth]]) {
    const out = join(root, `rgb-${init.length}`);
    const r = cli(['pretrain', ...tiny, '--in-channels', '3', ...init, '--out', out]);
    assert.is(r.code, 0, r.out);
    const ck = readAnyCheckpoint(join(out, 'last.safetensors'));
    assert.equal(ck.records['conv1.weight'].shape, [4, 3, 7, 7]);
    assert.is(ck.metadata.step, '2');
  }
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test.run();
