#!/usr/bin/env node
// Runs tfjs-core's own shared test suite (dist/tests.js, 4,000+ specs)
// against the `int8` backend.
//
//   node test/core/run-core-suite.mjs                  # whole suite (npm run test:core)
//   node test/core/run-core-suite.mjs --grep conv2d    # only specs whose full name contains
//                                                      # 'conv2d' (repeatable)
//   node test/core/run-core-suite.mjs --include-excluded  # run the excluded specs too and list
//                                                      # those that now pass
//   node test/core/run-core-suite.mjs --verbose        # print every spec's status
//   node test/core/run-core-suite.mjs --trace-kernels Conv2D,BatchMatMul
//                                                      # list the specs that ran these kernels
//   node test/core/run-core-suite.mjs --compare-cpu --include-excluded
//       # also run the cpu kernel beside each int8 conv/matmul call and report
//       # each spec's error against the int8 rounding bound (the evidence a
//       # 'quantized' exclusion needs; an error above the bound is a bug)
//
// Steps: bundle test/core/suite_entry.mjs (tfjs-core's test files, tfjs-core,
// tfjs-backend-cpu and src/index.ts in ONE bundle, so there is one tfjs-core)
// into build/core-suite/ with esbuild; load it into a programmatic jasmine
// whose spec filter drops the specs listed in test/core/excluded_specs.mjs;
// run; print the failures and, last,
//   core suite: N passed, N failed, N skipped
// A JSON report goes to build/core-suite/report.json. The exit code is
// non-zero on any failure, on a stale exclusion entry (one matching no spec),
// or when a spec tried to reach the network (blocked for the whole run).
//
// Every failure is printed with the int8 kernels of our own (those that are
// not the cpu backend's) that its spec ran: a failure that ran none of them
// is a backend bug, never a candidate for the exclusion list.

import fs from 'node:fs';
import {createRequire} from 'node:module';
import net from 'node:net';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

import {EXCLUDED_SPECS, QUANTIZED_KERNEL_FAMILIES} from './excluded_specs.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const outDir = path.join(root, 'build', 'core-suite');  // build/ is git-ignored
const bundlePath = path.join(outDir, 'core-suite.mjs');
const reportPath = path.join(outDir, 'report.json');

// ---------------------------------------------------------------- arguments
function parseArgs(argv) {
  const args = {grep: [], includeExcluded: false, verbose: false, traceKernels: [], compareCpu: false};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--grep' && i + 1 < argv.length) args.grep.push(argv[++i]);
    else if (a.startsWith('--grep=')) args.grep.push(a.slice('--grep='.length));
    else if (a === '--include-excluded') args.includeExcluded = true;
    else if (a === '--verbose') args.verbose = true;
    else if (a === '--compare-cpu') args.compareCpu = true;
    else if (a === '--trace-kernels' && i + 1 < argv.length) {
      args.traceKernels.push(...argv[++i].split(',').filter(Boolean));
    } else {
      console.error(`run-core-suite: unknown argument '${a}'`);
      process.exit(2);
    }
  }
  return args;
}
const args = parseArgs(process.argv.slice(2));

/** Full name of the spec running now, for attributing kernel calls and network attempts. */
let currentSpec = null;

// ------------------------------------------------------------ no network
// The suite must not depend on the network: tfjs-core's io specs stub fetch
// themselves, so any real request is a bug. Refuse and record them.
const networkAttempts = [];
function blockNetwork() {
  const refuse = what => {
    networkAttempts.push({what, spec: currentSpec});
    return new Error(`core suite: network access is disabled (${what})`);
  };
  globalThis.fetch = async input => {
    throw refuse(`fetch ${typeof input === 'string' ? input : input?.url ?? ''}`);
  };
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function(...connectArgs) {
    // Node passes either (options | port, ...) or one normalized [options, cb] array.
    const first = Array.isArray(connectArgs[0]) ? connectArgs[0][0] : connectArgs[0];
    const options = typeof first === 'object' && first != null ? first : {port: first};
    // A local pipe (IPC) is not network; anything else is refused.
    if (typeof options.path === 'string') return connect.apply(this, connectArgs);
    throw refuse(`socket connect ${options.host ?? options.hostname ?? 'localhost'}:${options.port}`);
  };
}

// ----------------------------------------------------------------- bundle
async function buildBundle() {
  const esbuild = await import('esbuild');
  fs.mkdirSync(outDir, {recursive: true});
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [path.join(here, 'suite_entry.mjs')],
    outfile: bundlePath,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // The ESM builds of tfjs-core / tfjs-backend-cpu (dist/index.js): the
    // same files tests.js imports relatively, so one tfjs-core instance, not
    // a second one from the prebuilt tf-core.node.js next to them.
    mainFields: ['module', 'main'],
    // tests.js imports its *_test files only for their side effects, which
    // tfjs-core's package.json "sideEffects" list would let esbuild drop.
    ignoreAnnotations: true,
    // jasmine_util.js require()s jasmine-core; leave that to Node.
    external: ['jasmine', 'jasmine-core', 'jasmine-core/*'],
    // require() for the CommonJS parts, inside an ES module bundle.
    banner: {
      js: "import {createRequire as __coreSuiteCreateRequire} from 'node:module';\n" +
          'const require = __coreSuiteCreateRequire(import.meta.url);',
    },
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'error',
  });
  assertOneTfjsCore(result.metafile);
}

/** Fails when the bundle holds a second copy of tfjs-core or tfjs-backend-cpu. */
function assertOneTfjsCore(metafile) {
  const inputs = Object.keys(metafile.inputs);
  const secondCopies = inputs.filter(
      p => /@tensorflow\/tfjs-(core|backend-cpu)\/dist\/tf-[^/]*\.js$/.test(p) ||
          /@tensorflow\/tfjs-[^/]+\/.*node_modules\/@tensorflow\/tfjs-core\//.test(p));
  const coreIndex = inputs.filter(p => /@tensorflow\/tfjs-core\/dist\/index\.js$/.test(p));
  if (secondCopies.length > 0 || coreIndex.length !== 1) {
    throw new Error(
        'core suite: the bundle must hold exactly one tfjs-core (its ESM dist/). Found:\n  ' +
        [...secondCopies, ...coreIndex].join('\n  '));
  }
}

// ------------------------------------------------------------ exclusions
/** Validates the list and returns fullName -> matching entry (or undefined). */
function exclusionMatcher(entries) {
  const byName = new Map();
  const patterns = [];
  for (const entry of entries) {
    const hasName = typeof entry.name === 'string';
    const hasPattern = typeof entry.pattern === 'string';
    if (hasName === hasPattern || !entry.reason ||
        !['quantized', 'environment'].includes(entry.kind) ||
        (entry.kind === 'environment' && !entry.cpu)) {
      throw new Error(
          'excluded_specs.mjs: each entry needs exactly one of name/pattern, kind ' +
          "'quantized' or 'environment', a reason, and for 'environment' what " +
          `tfjs-backend-cpu does (cpu): ${JSON.stringify(entry)}`);
    }
    entry.matched = 0;
    if (hasName) {
      if (byName.has(entry.name)) throw new Error(`excluded_specs.mjs: duplicate '${entry.name}'`);
      byName.set(entry.name, entry);
    } else {
      patterns.push(entry);
    }
  }
  return fullName => byName.get(fullName) ?? patterns.find(e => fullName.includes(e.pattern));
}

// ---------------------------------------------------------- kernel tracing
/**
 * Records which kernels each spec dispatches on the int8 backend: every int8
 * kernel that is not the cpu backend's (our own integer kernels) plus the
 * names given to --trace-kernels. Hooks the engine's runKernel, so registered
 * kernel configs are left untouched.
 */
function traceKernels(tf, extraNames, compareCpu) {
  const own = tf.getKernelsForBackend('int8')
                  .filter(k => tf.getKernel(k.kernelName, 'cpu')?.kernelFunc !== k.kernelFunc)
                  .map(k => k.kernelName)
                  .sort();
  const traced = new Set([...own, ...extraNames]);
  const users = new Map(extraNames.map(name => [name, new Set()]));
  const inSpec = new Set();
  /** Worst int8-vs-cpu comparison of the running spec (--compare-cpu). */
  const comparison = {worst: null};
  const engine = tf.engine();
  const runKernel = engine.runKernel;
  engine.runKernel = function(kernelName, inputs, attrs) {
    if (!traced.has(kernelName) || this.backendName !== 'int8') {
      return runKernel.call(this, kernelName, inputs, attrs);
    }
    inSpec.add(kernelName);
    users.get(kernelName)?.add(currentSpec ?? '(outside a spec)');
    const out = runKernel.call(this, kernelName, inputs, attrs);
    if (compareCpu && QUANTIZED_KERNEL_FAMILIES.includes(kernelName) && own.includes(kernelName)) {
      const result = compareWithCpu(tf, this.backend, kernelName, inputs, attrs, out);
      if (result != null && (comparison.worst == null || !(result.ofBound <= comparison.worst.ofBound))) {
        comparison.worst = result;
      }
    }
    return out;
  };
  return {own, users, inSpec, comparison};
}

/**
 * Runs the cpu kernel on the inputs an int8 conv/matmul kernel just ran on and
 * measures the int8 result's error: max |int8 - cpu|, as a share of the cpu
 * output's range and of the worst-case int8 rounding bound
 *   K * (max|x| * S_w + max|w| * S_x + S_x * S_w) * max(1, activation slope)
 * with K products per output and S = max(range / 255, max|.| / 127) per
 * operand (per-tensor asymmetric or symmetric int8, whichever is coarser).
 */
function compareWithCpu(tf, backend, kernelName, inputs, attrs, out) {
  const cpuKernel = tf.getKernel(kernelName, 'cpu');
  const isMatMul = kernelName.includes('MatMul');
  const x = isMatMul ? inputs.a : inputs.x;
  const w = isMatMul ? inputs.b : inputs.filter;
  if (cpuKernel == null || x == null || w == null || Array.isArray(out)) return null;
  let ref;
  try {
    ref = cpuKernel.kernelFunc({inputs, attrs, backend});
  } catch {
    return null;  // the cpu kernel rejects these inputs too
  }
  try {
    const got = backend.readSync(out.dataId);
    const want = backend.readSync(ref.dataId);
    let maxError = 0;
    let outputRange = 0;
    for (let i = 0; i < want.length; i++) {
      const bothNaN = Number.isNaN(got[i]) && Number.isNaN(want[i]);
      const e = bothNaN ? 0 : Math.abs(got[i] - want[i]);
      if (!(e <= maxError)) maxError = e;  // a lone NaN wins
      if (!bothNaN) outputRange = Math.max(outputRange, Math.abs(want[i]));
    }
    const stats = values => {
      let min = 0;
      let max = 0;
      for (const v of values) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const maxAbs = Math.max(max, -min);
      return {maxAbs, step: Math.max((max - min) / 255, maxAbs / 127)};
    };
    const xs = stats(backend.readSync(x.dataId));
    const ws = stats(backend.readSync(w.dataId));
    const products = isMatMul ? x.shape[x.shape.length - (attrs.transposeA ? 2 : 1)] :
        kernelName.includes('Depthwise') ? w.shape[0] * w.shape[1] :
                                           w.shape[0] * w.shape[1] * w.shape[2];
    let slope = Math.max(1, Math.abs(attrs.leakyreluAlpha ?? 0));
    if (inputs.preluActivationWeights != null) {
      slope = Math.max(slope, stats(backend.readSync(inputs.preluActivationWeights.dataId)).maxAbs);
    }
    const bound = products * (xs.maxAbs * ws.step + ws.maxAbs * xs.step + xs.step * ws.step) * slope +
        1e-6 * outputRange;
    return {
      kernelName,
      maxError,
      ofRange: maxError === 0 ? 0 : maxError / (outputRange || 1),
      ofBound: maxError === 0 ? 0 : maxError / bound,
    };
  } finally {
    backend.disposeData(ref.dataId);
  }
}

// ----------------------------------------------------------------- run
async function main() {
  const t0 = performance.now();
  await buildBundle();
  const tBuilt = performance.now();

  blockNetwork();

  const Jasmine = require('jasmine');
  const runner = new Jasmine({globals: true});
  runner.exitOnCompletion = false;
  // tfjs's jasmine_util sets this on a jasmine-core instance of its own; set it on ours.
  runner.jasmine.DEFAULT_TIMEOUT_INTERVAL = 20000;

  const findExclusion = exclusionMatcher(EXCLUDED_SPECS);
  const selected = fullName => args.grep.length === 0 || args.grep.some(g => fullName.includes(g));
  runner.env.configure({
    random: false,
    stopOnSpecFailure: false,
    specFilter: spec => {
      const fullName = spec.getFullName();
      if (!selected(fullName)) return false;
      return args.includeExcluded || findExclusion(fullName) == null;
    },
  });

  // Full names are not unique in the suite: count spec results, not names.
  const counts = {passed: 0, failed: 0, skipped: 0, excluded: 0, notSelected: 0};
  const failures = [];
  const suiteErrors = [];
  const invalidQuantizedExclusions = [];
  const comparisons = [];
  let tracer = null;
  let lastProgress = 0;

  runner.clearReporters();
  runner.addReporter({
    specStarted: result => {
      currentSpec = result.fullName;
      tracer?.inSpec.clear();
      if (tracer != null) tracer.comparison.worst = null;
    },
    specDone: result => {
      currentSpec = null;
      const ownKernelsRun = [...(tracer?.inSpec ?? [])].filter(k => tracer.own.includes(k));
      const worst = tracer?.comparison.worst;
      const measured = worst == null ? '' :
          `int8 vs cpu: max error ${percent(worst.ofRange)} of the output range, ` +
          `${worst.ofBound.toFixed(2)}x the int8 bound (${worst.kernelName})`;
      if (worst != null && result.status !== 'excluded') {
        comparisons.push({name: result.fullName, status: result.status, ...worst});
      }
      const exclusion = findExclusion(result.fullName);
      if (exclusion != null && selected(result.fullName)) {
        exclusion.matched++;
        if (result.status === 'passed') exclusion.passedWhenRun = (exclusion.passedWhenRun ?? 0) + 1;
        if (result.status === 'failed') exclusion.failedWhenRun = (exclusion.failedWhenRun ?? 0) + 1;
        if (result.status !== 'excluded' && exclusion.kind === 'quantized' &&
            (!ownKernelsRun.some(k => QUANTIZED_KERNEL_FAMILIES.includes(k)) ||
             (worst != null && !(worst.ofBound <= 1)))) {
          invalidQuantizedExclusions.push(result.fullName + (measured ? `  [${measured}]` : ''));
        }
      }
      switch (result.status) {
        case 'passed':
          counts.passed++;
          break;
        case 'failed':
          counts.failed++;
          failures.push({
            name: result.fullName,
            int8KernelsRun: ownKernelsRun,
            measured,
            messages: result.failedExpectations.map(f => f.message),
            stack: result.failedExpectations[0]?.stack,
          });
          process.stdout.write(
              `\nFAILED: ${result.fullName}\n` +
              `    (int8's own kernels run: ${ownKernelsRun.join(', ') || 'none'})\n` +
              (measured ? `    (${measured})\n` : '') +
              result.failedExpectations
                  .map(f => `    ${firstLines(f.message, 4)}\n` +
                           ourFrames(f.stack).map(line => `      ${line}\n`).join(''))
                  .join(''));
          break;
        case 'pending':
          counts.skipped++;
          break;
        case 'excluded':
          if (selected(result.fullName)) counts.excluded++;
          else counts.notSelected++;
          break;
      }
      if (args.verbose && result.status !== 'excluded') {
        console.log(`${result.status.padEnd(7)} ${result.fullName}`);
      }
      const done = counts.passed + counts.failed + counts.skipped;
      if (!args.verbose && done - lastProgress >= 1000) {
        lastProgress = done;
        process.stdout.write(`  ... ${done} specs run (${counts.failed} failed)\n`);
      }
    },
    suiteDone: result => {
      // beforeAll / afterAll errors belong to no spec; they are failures too.
      if (result.failedExpectations.length > 0) {
        suiteErrors.push({name: result.fullName, messages: result.failedExpectations.map(f => f.message)});
        process.stdout.write(`\nSUITE ERROR: ${result.fullName}\n` +
            result.failedExpectations.map(f => `    ${firstLines(f.message, 4)}\n`).join(''));
      }
    },
    jasmineDone: result => {
      for (const f of result.failedExpectations ?? []) {
        suiteErrors.push({name: '(top level)', messages: [f.message]});
        process.stdout.write(`\nTOP-LEVEL ERROR: ${firstLines(f.message, 6)}\n`);
      }
    },
  });

  // Failure stacks then point into src/, kernels/ and tfjs-core's sources.
  process.setSourceMapsEnabled(true);
  // Loading the bundle defines every describe/it on jasmine's globals.
  const bundle = await import(pathToFileURL(bundlePath).href);
  tracer = traceKernels(bundle.tf, args.traceKernels, args.compareCpu);
  const tLoaded = performance.now();
  console.log(`int8's own kernels (${tracer.own.length}): ${tracer.own.join(', ') || 'none'}`);

  const overall = await runner.execute();
  const tDone = performance.now();

  // --------------------------------------------------------------- report
  const stale = args.grep.length === 0 ? EXCLUDED_SPECS.filter(e => e.matched === 0) : [];
  // Entries every one of whose specs passed when run (--include-excluded).
  const excludedButPassed = EXCLUDED_SPECS.filter(e => e.passedWhenRun > 0 && !e.failedWhenRun)
                                .map(e => e.name ?? e.pattern);
  const failedTotal = counts.failed + suiteErrors.length;
  const summary = {
    passed: counts.passed,
    failed: failedTotal,
    skipped: counts.skipped,
    excluded: counts.excluded,
    notSelected: counts.notSelected,
    overallStatus: overall.overallStatus,
    seconds: {
      bundle: round((tBuilt - t0) / 1000),
      load: round((tLoaded - tBuilt) / 1000),
      specs: round((tDone - tLoaded) / 1000),
      total: round((tDone - t0) / 1000),
    },
    int8OwnKernels: tracer.own,
    failures,
    suiteErrors,
    networkAttempts,
    staleExclusions: stale.map(e => e.name ?? e.pattern),
    excludedButPassed,
    invalidQuantizedExclusions,
    comparisons,
    kernelUsers: Object.fromEntries([...tracer.users].map(([k, v]) => [k, [...v]])),
    exclusions: EXCLUDED_SPECS.map(e => ({...e})),
  };
  fs.writeFileSync(reportPath, JSON.stringify(summary, null, 2));

  for (const [kernel, specs] of tracer.users) {
    console.log(`\nSpecs that ran ${kernel} on int8 (${specs.size}):`);
    for (const name of specs) console.log(`  ${name}`);
  }
  console.log('');
  if (failures.length > 0) {
    console.log(`Failed specs (${failures.length}):`);
    for (const f of failures) {
      console.log(`  ${f.name}` + (f.int8KernelsRun.length ? `  [ran ${f.int8KernelsRun.join(', ')}]` : ''));
    }
  }
  if (networkAttempts.length > 0) {
    console.log(`Network access attempted and refused (${networkAttempts.length}):`);
    for (const a of networkAttempts) console.log(`  ${a.what}  [${a.spec ?? 'outside a spec'}]`);
  }
  for (const e of stale) {
    console.log(`Stale exclusion (matches no spec): ${JSON.stringify(e.name ?? e.pattern)}`);
  }
  if (args.includeExcluded) {
    console.log(`--include-excluded: every spec of ${excludedButPassed.length} exclusion entries passed` +
        (excludedButPassed.length > 0 ? ' (remove their entries):' : ''));
    for (const name of excludedButPassed) console.log(`  ${name}`);
    if (invalidQuantizedExclusions.length > 0) {
      console.log("Invalid 'quantized' exclusions: the spec ran no int8 kernel of our own from " +
          `${QUANTIZED_KERNEL_FAMILIES.join('/')}, or (--compare-cpu) erred beyond the int8 bound:`);
      for (const name of invalidQuantizedExclusions) console.log(`  ${name}`);
    }
  }
  if (args.compareCpu) {
    const worst = comparisons.reduce((w, c) => (w == null || !(c.ofBound <= w.ofBound) ? c : w), null);
    const over = comparisons.filter(c => !(c.ofBound <= 1));
    console.log(`--compare-cpu: ${comparisons.length} specs ran int8 conv/matmul kernels; ` +
        (worst == null ? 'none compared' :
         `worst ${worst.ofBound.toFixed(2)}x the int8 bound (${percent(worst.ofRange)} of ` +
         `its output range) in '${worst.name}'`) + `; ${over.length} above the bound`);
    for (const c of over) console.log(`  above the int8 bound: ${c.name} (${c.kernelName})`);
  }
  console.log(
      `excluded: ${summary.excluded} specs by ${EXCLUDED_SPECS.length} entries in ` +
      'test/core/excluded_specs.mjs' +
      (summary.notSelected > 0 ? `; not selected by --grep: ${summary.notSelected}` : ''));
  console.log(
      `time: ${summary.seconds.total}s (bundle ${summary.seconds.bundle}s, ` +
      `load ${summary.seconds.load}s, specs ${summary.seconds.specs}s); report: ` +
      path.relative(root, reportPath));
  if (overall.overallStatus !== 'passed') {
    console.log(`jasmine overall status: ${overall.overallStatus}` +
        (overall.incompleteReason ? ` (${overall.incompleteReason})` : ''));
  }
  console.log(`core suite: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);

  const ran = counts.passed + counts.failed;
  if (ran === 0) console.log('No spec ran.');
  const ok = ran > 0 && failedTotal === 0 && networkAttempts.length === 0 && stale.length === 0 &&
      invalidQuantizedExclusions.length === 0 && overall.overallStatus === 'passed';
  process.exitCode = ok ? 0 : 1;
}

/** The first stack frames in this project's own code (src/, kernels/, test/). */
function ourFrames(stack, n = 3) {
  return String(stack ?? '')
      .split('\n')
      .map(l => l.trim())
      .filter(l => l.startsWith('at ') && l.includes(root + path.sep) && !l.includes('node_modules'))
      .slice(0, n);
}

function firstLines(text, n) {
  const lines = String(text).split('\n');
  return lines.slice(0, n).join('\n    ') + (lines.length > n ? ' …' : '');
}

function percent(x) {
  return `${(100 * x).toPrecision(2)}%`;
}

function round(x) {
  return Math.round(x * 10) / 10;
}

main().catch(err => {
  console.error(err?.stack ?? err);
  console.log('core suite: 0 passed, 1 failed, 0 skipped');
  process.exitCode = 1;
});
