// Shared by the Chromium test and the screenshot script: build the bundles, launch Debian's
// headless Chromium (never a downloaded browser) with a fresh profile, keep it on localhost.

import {spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

import {chromium} from 'playwright-core';
import type {BrowserContext, Page} from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM_PATH = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/** Runs `rollup -c rollup.config.js` (= npm run build) in the repository; rejects with its output. */
export function buildBundles(): Promise<void> {
  const rollupBin = join(ROOT, 'node_modules', 'rollup', 'dist', 'bin', 'rollup');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [rollupBin, '-c', 'rollup.config.js'], {cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe']});
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.on('error', reject);
    child.on('close', code => {
      if (code === 0 && existsSync(join(ROOT, 'dist', 'tfjs-backend-int8.min.js'))) resolvePromise();
      else reject(new Error(`npm run build (rollup -c rollup.config.js) failed with ${code}:\n${output}`));
    });
  });
}

export interface Browser {
  context: BrowserContext;
  /** Every request the pages made to a host other than 127.0.0.1 / localhost (all aborted). */
  blockedRequests: string[];
  /** Uncaught page errors and console errors, with the page URL. */
  pageErrors: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

function isLocal(url: string): boolean {
  if (url.startsWith('data:') || url.startsWith('blob:') || url === 'about:blank') return true;
  try {
    const {hostname} = new URL(url);
    return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
  } catch {
    return false;
  }
}

/**
 * Launches /usr/bin/chromium headless with a fresh temporary profile (removed on close).
 * Requests to anything but localhost are aborted and recorded.
 */
export async function launchChromium(options: {viewport?: {width: number; height: number}} = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} is missing: install Debian's chromium (apt-get install -y chromium)`);
  }
  const userDataDir = await mkdtemp(join(tmpdir(), 'int8-chromium-profile-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: options.viewport ?? {width: 1040, height: 760},
      serviceWorkers: 'block',
    });
  } catch (error) {
    await rm(userDataDir, {recursive: true, force: true});
    throw error;
  }
  const blockedRequests: string[] = [];
  const pageErrors: string[] = [];
  await context.route('**/*', route => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    blockedRequests.push(url);
    return route.abort('blockedbyclient');
  });
  const watch = (page: Page): Page => {
    page.on('pageerror', error => pageErrors.push(`${page.url()}: ${error.message}`));
    page.on('console', message => {
      if (message.type() === 'error') pageErrors.push(`${page.url()}: console.error: ${message.text()}`);
    });
    return page;
  };
  context.pages().forEach(watch);
  return {
    context,
    blockedRequests,
    pageErrors,
    newPage: async () => watch(await context.newPage()),
    close: async () => {
      await context.close();
      await rm(userDataDir, {recursive: true, force: true});
    },
  };
}

/** What window.int8Demo.lastResult holds (demo/web/demo.js). */
export interface DemoRun {
  backend: string;
  model: 'float' | 'int8';
  values: number[];
  firstValues: number[];
  firstMs: number;
  medianMs: number;
  timesMs: number[];
}

export interface DemoResult {
  name: string;
  width: number;
  height: number;
  results: Record<string, DemoRun>;
}

/** Opens the demo page and waits until its models are loaded (throws with the page's status on error). */
export async function openDemo(page: Page, url: string, timeoutMs = 120_000): Promise<void> {
  await page.goto(url);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, {timeout: timeoutMs});
  if (await page.evaluate(() => document.body.dataset.state) === 'error') {
    throw new Error(`the demo page did not start: ${await page.locator('#status').textContent()}`);
  }
}

/** Waits for the prediction the page is running to finish; its result. */
export async function waitForPrediction(page: Page, timeoutMs = 300_000): Promise<DemoResult> {
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, {timeout: timeoutMs});
  if (await page.evaluate(() => document.body.dataset.state) === 'error') {
    throw new Error(`the prediction failed in the page: ${await page.locator('#status').textContent()}`);
  }
  return page.evaluate(() => (window as unknown as {int8Demo: {lastResult: DemoResult}}).int8Demo.lastResult);
}

/** The index of the largest value. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
