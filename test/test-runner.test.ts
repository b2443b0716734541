// `npm test`'s runner (test/runner/run.ts): run on a folder of small test files, it names every test
// with a mark, puts each skip's reason beside its suite, shows failures with their message, counts as
// uvu does (the summary lines .ci/run adds up), exits 1 on any failure and 0 otherwise, and writes no
// ANSI colour when its output is not a terminal.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { cliTests } from './helpers.js';

const test = cliTests(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url)); // dist/test
const runner = join(here, 'runner', 'run.js');
// Under dist/test so that 'uvu/assert' resolves from node_modules; a dot folder, which the runner skips.
const dir = join(here, `.runner-fixture-${process.pid}`);

const passing = `import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
test('adds two numbers', () => { assert.is(1 + 1, 2); });
test.skip('cuda: the same on the device (backend unavailable: no driver)', () => {});
test.run();
const s = suite('state', { n: 1 });
s.before.each((st) => { st.n = st.n + 1; });
s('a before-each hook ran', (st) => { assert.is(st.n, 2); });
s.run();
`;
const failing = `import { test } from 'uvu';
import * as assert from 'uvu/assert';
test('compares wrongly', () => { assert.is(2 + 2, 5, 'two and two'); });
test('still runs after a failure', () => {});
test.run();
`;

/** process.env without the colour switches, plus `extra`. */
function envWith(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NO_COLOR' && k !== 'FORCE_COLOR'));
  return { ...env, ...extra, IFA_TEST_DIR: dir };
}

function write(files: Record<string, string>): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/** Runs the runner on `dir` with its output on pipes (not a terminal). */
function run(args: string[] = [], extra: Record<string, string> = {}): { out: string; stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [runner, ...args], { encoding: 'utf8', env: envWith(extra), timeout: 60_000 });
  return { out: `${r.stdout}${r.stderr}`, stdout: r.stdout, stderr: r.stderr, status: r.status };
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('names each test under its file, with its suite, and puts a skip reason beside its suite', () => {
  write({ 'a.test.js': passing });
  const { out, status } = run();
  assert.is(status, 0, out);
  const lines = out.split('\n');
  const at = (s: string): number => lines.findIndex((l) => l.includes(s));
  assert.ok(at('a.test.js') >= 0, out);
  assert.match(out, /✓ adds two numbers \(\d+ ms\)/);
  assert.match(out, /- cuda: the same on the device \(backend unavailable: no driver\) \(skipped\)/);
  assert.match(out, /✓ state › a before-each hook ran/);
  assert.ok(at('a.test.js') < at('adds two numbers'), 'tests are listed under their file');
  assert.match(out, /2 \/ 2 passed, 1 skipped/);
  assert.match(out, /Total:\s+2\n\s+Passed:\s+2\n\s+Skipped:\s+1/);
});

test('a failure is named with its message, the rest still run, and the exit code is 1', () => {
  write({ 'a.test.js': passing, 'b.test.js': failing });
  const { out, status } = run();
  assert.is(status, 1, out);
  assert.match(out, /✘ compares wrongly/);
  assert.match(out, /two and two/);
  assert.match(out, /✓ still runs after a failure/);
  assert.match(out, /1 failed:\s+b\.test\.js: compares wrongly/);
  assert.match(out, /Total:\s+4\n\s+Passed:\s+3\n\s+Skipped:\s+1/);
});

test('no ANSI colour when the output is not a terminal; FORCE_COLOR asks for it, NO_COLOR wins', () => {
  write({ 'a.test.js': passing, 'b.test.js': failing });
  assert.not.match(run().out, /\x1b\[/, 'a pipe gets no escape codes');
  assert.match(run([], { FORCE_COLOR: '1' }).stdout, /\x1b\[32m✓/, 'FORCE_COLOR=1 colours a pipe');
  assert.not.match(run([], { FORCE_COLOR: '1', NO_COLOR: '' }).out, /\x1b\[/, 'NO_COLOR, set even empty, wins');
});

test('a pattern that matches no file is an error, not a pass', () => {
  write({ 'a.test.js': passing });
  const r = run(['no-such-file']);
  assert.is(r.status, 1);
  assert.match(r.stderr, /no test file under .* matches \/no-such-file\/i/);
});

test.run();
