// The pretraining config against the modules that own its enums and defaults, and the CLI's flags
// against the schema they map onto.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BACKEND_NAMES } from '../src/backends/backend.js';
import { FLAG_TO_FIELD, NUMERIC_FLAGS, flagName, parseIfaFlag } from '../src/cli/flags.js';
import { configFromArgs } from '../src/cli/pretrain.js';
import { PRESET_NAMES } from '../src/data/augment.js';
import { DEFAULT_IFA } from '../src/ssl/losses.js';
import { configSchema, parseConfig } from '../src/train/config.js';

test('augment and backend take exactly the presets and backends there are', () => {
  assert.equal(configSchema.shape.augment.unwrap().options, [...PRESET_NAMES]);
  assert.equal(configSchema.shape.backend.unwrap().options, [...BACKEND_NAMES]);
  assert.is(parseConfig({ augment: 'paper' }).augment, 'paper');
});

test('augmentDevice: cpu by default, or the run\'s backend; another backend is refused naming both and the fix', () => {
  assert.is(parseConfig({}).augmentDevice, 'cpu');
  assert.is(parseConfig({ backend: 'cuda', augmentDevice: 'cuda' }).augmentDevice, 'cuda');
  assert.is(parseConfig({ backend: 'webgpu' }).augmentDevice, 'cpu');
  assert.throws(() => parseConfig({ augmentDevice: 'cuda' }), /augmentDevice: 'cuda' augments on that backend, but the run trains on 'cpu'; use augmentDevice 'cpu' or backend 'cuda'/);
  assert.throws(() => parseConfig({ augmentDevice: 'gpu' }), /augmentDevice/);
  assert.equal(configFromArgs(['--backend', 'webgpu', '--augment-device', 'webgpu']).augmentDevice, 'webgpu');
});

test('the default IFA terms are DEFAULT_IFA, a fresh copy each parse', () => {
  const a = parseConfig({});
  assert.equal(a.ifa, DEFAULT_IFA);
  a.ifa[0].block = 1;
  assert.equal(parseConfig({}).ifa, DEFAULT_IFA);
  assert.is(DEFAULT_IFA[0].block, 3);
  assert.is(a.temperature, undefined, 'the method chooses its temperature');
});

test('each flag is a config field in kebab case, numeric exactly where the schema has a number', () => {
  const fields = Object.keys(configSchema.shape);
  for (const [flag, field] of Object.entries({ ...FLAG_TO_FIELD, ...NUMERIC_FLAGS })) {
    assert.ok(fields.includes(field), `--${flag}: ${field} is not a config field`);
    assert.is(flagName(field), flag);
  }
  // 1 or 64 is in range for every numeric field (inChannels ≤ 3, imageSize ≥ 32).
  for (const field of Object.values(NUMERIC_FLAGS)) assert.ok([1, 64].some((v) => configSchema.shape[field].safeParse(v).success), `${field} takes a number`);
  for (const field of Object.values(FLAG_TO_FIELD)) assert.not.ok([1, 64].some((v) => configSchema.shape[field].safeParse(v).success), `${field} takes no number`);
  const cfg = configFromArgs(['--image-size', '64', '--bn-groups', '2', '--augment', 'easy', '--ifa', '1:0.3', '--ifa', '4']);
  assert.equal([cfg.imageSize, cfg.bnGroups, cfg.augment], [64, 2, 'easy']);
  assert.equal(cfg.ifa, [
    { block: 1, target: 0.3, weight: 1 },
    { block: 4, target: 1, weight: 1 },
  ]);
  assert.equal(parseIfaFlag('2:0.5:3'), { block: 2, target: 0.5, weight: 3 });
  assert.throws(() => configFromArgs(['--batch', 'many']), /--batch must be a number, got 'many'/);
});

test.run();
