// uvu's test API (suite, test, .only, .skip, .before/.after(.each), .run) for test/runner/run.ts.
// The test files import 'uvu' as usual; run.ts maps that import here (test/runner/hooks.ts), so the
// same files still run under uvu's own CLI. It keeps what uvu's reporter throws away: each test's name,
// its time, and the name of each skipped test, which is where our skips give their reason. The
// semantics follow uvu 0.5 (lukeed/uvu src/index.js): hooks get the suite's state, .only narrows a
// suite to its .only tests (the rest count as skipped), after-hooks run even when a test fails.

export type Hook = (state: Record<string, unknown>) => unknown;
interface Case {
  name: string;
  handler: Hook;
}
export interface SuiteContext {
  name: string;
  state: Record<string, unknown>;
  tests: Case[];
  only: Case[];
  skipped: string[];
  before: Hook[];
  after: Hook[];
  beforeEach: Hook[];
  afterEach: Hook[];
}

/** The suites each test file queued with .run(), in order; run.ts empties it after each file. */
export const queued: SuiteContext[] = [];

function context(name: string, state: Record<string, unknown>): SuiteContext {
  return { name, state, tests: [], only: [], skipped: [], before: [], after: [], beforeEach: [], afterEach: [] };
}

type HookAdder = ((fn: Hook) => void) & { each: (fn: Hook) => void };

export interface Test {
  (name: string, handler: Hook): void;
  only: (name: string, handler: Hook) => void;
  skip: (name?: string, handler?: Hook) => void;
  before: HookAdder;
  after: HookAdder;
  run: () => void;
}

export function suite(name = '', state: Record<string, unknown> = {}): Test {
  let ctx = context(name, state);
  const hook = (key: 'before' | 'after', each: 'beforeEach' | 'afterEach'): HookAdder =>
    Object.assign((fn: Hook) => void ctx[key].push(fn), { each: (fn: Hook) => void ctx[each].push(fn) });
  const add = (name: string, handler: Hook): void => void ctx.tests.push({ name, handler });
  return Object.assign(add, {
    only: (name: string, handler: Hook) => void ctx.only.push({ name, handler }),
    skip: (name = '(unnamed)') => void ctx.skipped.push(name),
    before: hook('before', 'beforeEach'),
    after: hook('after', 'afterEach'),
    run: () => {
      queued.push(ctx);
      ctx = context(name, ctx.state); // as uvu: the suite can be filled and run again
    },
  });
}

export const test = suite();

export interface CaseResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: unknown;
}
export interface SuiteResult {
  cases: CaseResult[];
  skipped: string[];
  /** A before- or after-hook that threw (the suite's tests then count as failed). */
  hookError?: unknown;
}

/** Runs one queued suite: before-hooks, each test between its each-hooks, after-hooks. */
export async function runSuite(ctx: SuiteContext, onCase: (r: CaseResult) => void): Promise<SuiteResult> {
  const { state } = ctx;
  const cases = ctx.only.length ? ctx.only : ctx.tests;
  const skipped = [...(ctx.only.length ? ctx.tests.map((t) => `${t.name} (not .only)`) : []), ...ctx.skipped];
  const results: CaseResult[] = [];
  let hookError: unknown;
  state.__suite__ = ctx.name;
  try {
    for (const h of ctx.before) await h(state);
    for (const c of cases) {
      state.__test__ = c.name;
      const t0 = performance.now();
      let r: CaseResult;
      try {
        for (const h of ctx.beforeEach) await h(state);
        await c.handler(state);
        for (const h of ctx.afterEach) await h(state);
        r = { name: c.name, ok: true, ms: performance.now() - t0 };
      } catch (error) {
        try {
          for (const h of ctx.afterEach) await h(state);
        } catch {
          // the test's own error is the one to report
        }
        r = { name: c.name, ok: false, ms: performance.now() - t0, error };
      }
      results.push(r);
      onCase(r);
    }
  } catch (e) {
    hookError = e; // a before-hook threw: none of the remaining tests ran
  } finally {
    state.__test__ = '';
    try {
      for (const h of ctx.after) await h(state);
    } catch (e) {
      hookError ??= e;
    }
  }
  if (hookError !== undefined) {
    for (const c of cases.slice(results.length)) results.push({ name: c.name, ok: false, ms: 0, error: hookError });
  }
  return { cases: results, skipped, hookError };
}
