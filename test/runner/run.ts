// The test runner behind `npm test`: runs every dist/test/**/*.test.js (or those matching the
// pattern given as the first argument, a case-insensitive regular expression as uvu takes it), one
// file after another in name order, and prints each file's tests by name with their time, each
// skipped test with its reason (our skips put the reason in the test's name), and each failure with
// its message, diff and stack. It ends with uvu's summary lines (Total / Passed / Skipped /
// Duration), which .ci/run counts. Colour only on a terminal (NO_COLOR turns it off, FORCE_COLOR on).
//   node dist/test/run.js                        all files
//   node dist/test/run.js '(conv|ifa)\.test\.js$'  some
// `npx uvu dist/test PATTERN` still runs the same files with uvu's own dots.
import { readdirSync, statSync } from 'node:fs';
import { register } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect } from 'node:util';

register('./hooks.js', import.meta.url);

const env = process.env;
const color = env.NO_COLOR === undefined && env.TERM !== 'dumb' && ((env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') || process.stdout.isTTY === true);
const paint = (code: string) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const bold = paint('1');
const green = paint('32');
const red = paint('31');
const yellow = paint('33');
const dim = paint('2');

function findTests(dir: string, pattern: RegExp): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.[mc]?js$/.test(name) && pattern.test(relative(dir, path))) out.push(path); // never .d.ts or .map
    }
  };
  walk(dir);
  return out.sort((a, b) => relative(dir, a).localeCompare(relative(dir, b)));
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return `    thrown: ${inspect(error)}`;
  const e = error as Error & { operator?: string; actual?: unknown; expected?: unknown; details?: string };
  const lines = [`    ${e.name}: ${e.message}${e.operator ? dim(`  (${e.operator})`) : ''}`];
  if (e.details) lines.push(...e.details.split('\n').map((l) => `      ${l}`));
  else if ('expected' in e && 'actual' in e && e.name.startsWith('Assertion')) {
    lines.push(`      actual:   ${inspect(e.actual, { depth: 3, breakLength: Infinity }).slice(0, 400)}`);
    lines.push(`      expected: ${inspect(e.expected, { depth: 3, breakLength: Infinity }).slice(0, 400)}`);
  }
  const stack = (e.stack ?? '').split('\n').slice(1).map((l) => l.trim()).filter((l) => l.startsWith('at ') && !/\((node:|internal\/)|at (node:|internal\/)|\/test\/runner\//.test(l));
  lines.push(...stack.slice(0, 8).map((l) => dim(`      ${l}`)));
  return lines.join('\n');
}

const ms = (t: number): string => (t >= 1000 ? `${(t / 1000).toFixed(1)} s` : `${Math.round(t)} ms`);

async function main(): Promise<void> {
  const pattern = new RegExp(process.argv[2] ?? '\\.test\\.js$', 'i');
  // dist/test; IFA_TEST_DIR points elsewhere (test/test-runner.test.ts runs the runner on its own files)
  const dir = env.IFA_TEST_DIR ?? fileURLToPath(new URL('..', import.meta.url));
  const files = findTests(dir, pattern);
  if (files.length === 0) {
    console.error(`test runner: no test file under ${dir} matches /${pattern.source}/i`);
    process.exitCode = 1;
    return;
  }
  const { queued, runSuite } = await import('./uvu.js');
  const started = performance.now();
  let total = 0;
  let passed = 0;
  let skipped = 0;
  const failures: string[] = [];
  let running = true;
  process.on('exit', () => {
    if (!running) return;
    process.exitCode = process.exitCode || 1;
    console.error('test runner: the process is exiting before the tests finished (a test left nothing for the event loop to wait on)');
  });

  // As uvu does: import every file first, then run the suites file by file. (A file's top level may
  // start work that its tests await later, and its after-hooks remove what that work makes; running a
  // file's hooks straight after its import could cut such work short.) What a file prints while it is
  // imported (its skip notes, say) is held and printed under its name when its suites run.
  const loaded: { name: string; suites: typeof queued; printed: string; loadError?: unknown; loadMs: number }[] = [];
  const write = process.stdout.write.bind(process.stdout);
  for (const file of files) {
    const name = relative(dir, file);
    let printed = '';
    process.stdout.write = ((chunk: string | Uint8Array) => {
      printed += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    }) as typeof process.stdout.write;
    const t0 = performance.now();
    let loadError: unknown;
    try {
      await import(pathToFileURL(file).href);
    } catch (e) {
      loadError = e ?? new Error('import failed');
    } finally {
      process.stdout.write = write;
    }
    loaded.push({ name, suites: queued.splice(0), printed, loadError, loadMs: performance.now() - t0 });
  }

  for (const { name, suites, printed, loadError, loadMs } of loaded) {
    console.log(`\n${bold(name)}`);
    if (printed) process.stdout.write(printed);
    const t0 = performance.now() - loadMs;
    if (loadError !== undefined) {
      total += 1;
      failures.push(`${name}: the file failed to load\n${describe(loadError)}`);
      console.log(`  ${red('✘')} the file failed to load\n${describe(loadError)}`);
      continue;
    }
    let fileTotal = 0;
    let filePassed = 0;
    let fileSkipped = 0;
    for (const ctx of suites) {
      const prefix = ctx.name ? `${ctx.name} › ` : '';
      const result = await runSuite(ctx, (r) => {
        if (r.ok) console.log(`  ${green('✓')} ${prefix}${r.name} ${dim(`(${ms(r.ms)})`)}`);
        else {
          console.log(`  ${red('✘')} ${prefix}${r.name} ${dim(`(${ms(r.ms)})`)}\n${describe(r.error)}`);
          failures.push(`${name}: ${prefix}${r.name}\n${describe(r.error)}`);
        }
      });
      if (result.hookError !== undefined) {
        const notRun = result.cases.filter((c) => !c.ok && c.error === result.hookError).length;
        const what = `${prefix}a before/after hook threw${notRun ? ` (${notRun} test${notRun > 1 ? 's' : ''} not run, counted as failed)` : ''}`;
        console.log(`  ${red('✘')} ${what}\n${describe(result.hookError)}`);
        failures.push(`${name}: ${what}`);
      }
      for (const s of result.skipped) console.log(`  ${yellow('-')} ${prefix}${s} ${dim('(skipped)')}`);
      fileTotal += result.cases.length;
      filePassed += result.cases.filter((c) => c.ok).length;
      if (result.hookError !== undefined && result.cases.every((c) => c.ok)) fileTotal += 1; // a failing after-hook fails the file
      fileSkipped += result.skipped.length;
    }
    skipped += fileSkipped;
    total += fileTotal;
    passed += filePassed;
    const summary = `  ${filePassed} / ${fileTotal} passed${fileSkipped ? `, ${fileSkipped} skipped` : ''} in ${ms(performance.now() - t0)}`;
    console.log(filePassed === fileTotal ? dim(summary) : red(summary));
  }
  running = false;

  if (failures.length) {
    console.log(`\n${red(bold(`${failures.length} failed:`))}`);
    for (const f of failures) console.log(`\n  ${f.split('\n')[0]}`);
  }
  console.log(`\n  Total:     ${total}`);
  console.log(`  Passed:    ${passed}`);
  console.log(`  Skipped:   ${skipped}`);
  console.log(`  Duration:  ${ms(performance.now() - started)}\n`);
  if (passed !== total) process.exitCode = 1;
}

await main();
