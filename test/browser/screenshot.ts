// Takes demo/web/screenshot.png (for the README): builds the bundles, makes the demo models if
// needed, opens the demo page in headless Chromium, picks a photo as a person would, and
// captures the page once the three backends have run.
//
//   node --import tsx test/browser/screenshot.ts [photo from test/fixtures/images] [--runs N]

import {statSync} from 'node:fs';
import {join} from 'node:path';

import {prepareDemoModels} from '../../demo/web/prepare-models';
import {startDemoServer} from '../../demo/web/serve.mjs';
import {buildBundles, launchChromium, openDemo, ROOT, waitForPrediction} from './harness';

const MAX_BYTES = 300 * 1024;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const runsIndex = args.indexOf('--runs');
  const runs = runsIndex >= 0 ? Number(args[runsIndex + 1]) : 5;
  const photo = args.find((a, i) => !a.startsWith('--') && i !== runsIndex + 1) ?? 'opencv-messi5.jpg';
  const out = join(ROOT, 'demo', 'web', 'screenshot.png');

  await buildBundles();
  const models = await prepareDemoModels();
  const server = await startDemoServer({floatModelDir: models.floatModelDir, int8ModelDir: models.int8ModelDir});
  const browser = await launchChromium({viewport: {width: 1040, height: 720}});
  try {
    const page = await browser.newPage();
    await openDemo(page, `${server.url}?runs=${runs}`);
    await page.setInputFiles('#file', join(ROOT, 'test', 'fixtures', 'images', photo));
    const result = await waitForPrediction(page);
    await page.screenshot({path: out, fullPage: true});
    const bytes = statSync(out).size;
    process.stdout.write(`${out}: ${bytes} bytes\n`);
    for (const run of Object.values(result.results)) {
      process.stdout.write(`  ${run.backend.padEnd(5)} median ${run.medianMs.toFixed(1)} ms, first ${run.firstMs.toFixed(0)} ms, ` +
        `runs ${run.timesMs.map(t => t.toFixed(0)).join(' ')}\n`);
    }
    if (bytes > MAX_BYTES) throw new Error(`the screenshot is ${bytes} bytes, more than ${MAX_BYTES}`);
    if (browser.pageErrors.length > 0 || browser.blockedRequests.length > 0) {
      throw new Error(`page errors: ${browser.pageErrors.join('; ')} blocked: ${browser.blockedRequests.join(', ')}`);
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch(error => {
  process.stderr.write(`screenshot: ${(error as Error).message}\n`);
  process.exitCode = 1;
});
