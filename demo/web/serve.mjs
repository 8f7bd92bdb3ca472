#!/usr/bin/env node
// A tiny static file server for the browser demo (node:http, no dependencies, localhost only).
//
//   node demo/web/serve.mjs [--port 8080] [--float-model <dir>] [--int8-model <dir>]
//
// It serves, read-only and nothing else:
//   /                                   demo/web/ (index.html, demo.js)
//   /dist/...                           the built bundles (npm run build)
//   /node_modules/@tensorflow/<pkg>/dist/...   the tfjs UMD bundles and tfjs-backend-wasm's .wasm files
//   /models/float/...                   the float model (default: the cached nsfwjs MobileNetV2)
//   /models/int8/...                    the quantized model (default: made by demo/web/prepare-models.ts)
//   /samples/...                        the test photos (test/fixtures/images), /samples/index.json lists them
import {createReadStream, existsSync, readdirSync, statSync} from 'node:fs';
import {createServer} from 'node:http';
import {homedir} from 'node:os';
import {dirname, extname, join, resolve, sep} from 'node:path';
import {fileURLToPath} from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

/** @type {Record<string, string>} */
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.md': 'text/plain; charset=utf-8',
};

/** The model cache of models/fetch-models.ts: $TFJS_INT8_CACHE or ~/.cache/tfjs-backend-int8. */
export function defaultCacheRoot() {
  const configured = process.env.TFJS_INT8_CACHE;
  return resolve(configured !== undefined && configured !== '' ? configured : join(homedir(), '.cache', 'tfjs-backend-int8'));
}

export function defaultModelDirs() {
  const cache = defaultCacheRoot();
  return {
    floatModelDir: join(cache, 'models', 'nsfwjs-mobilenet-v2'),
    int8ModelDir: join(cache, 'demo', 'nsfwjs-mobilenet-v2-int8'),
  };
}

/**
 * URL path prefix → directory on disk; the first matching prefix wins.
 * @param {{floatModelDir: string, int8ModelDir: string, samplesDir: string}} dirs
 * @returns {Array<[string, string]>}
 */
function mounts({floatModelDir, int8ModelDir, samplesDir}) {
  const tfjs = ['tfjs-core', 'tfjs-converter', 'tfjs-backend-cpu', 'tfjs-backend-wasm', 'tfjs-layers'];
  /** @type {Array<[string, string]>} */
  const table = tfjs.map(pkg => [`/node_modules/@tensorflow/${pkg}/dist/`, join(ROOT, 'node_modules', '@tensorflow', pkg, 'dist')]);
  table.push(
    ['/dist/', join(ROOT, 'dist')],
    ['/models/float/', floatModelDir],
    ['/models/int8/', int8ModelDir],
    ['/samples/', samplesDir],
    ['/', HERE],
  );
  return table;
}

/**
 * The file for a URL path inside `base`, or null (never a path outside `base`).
 * @param {string} base @param {string} rest @returns {string | null}
 */
function fileInside(base, rest) {
  if (rest.includes('\0')) return null;
  const path = resolve(base, `.${sep}${rest}`);
  if (path !== base && !path.startsWith(base + sep)) return null;
  return path;
}

/** @param {import('node:http').ServerResponse} res @param {number} status @param {string} text */
function send(res, status, text) {
  res.writeHead(status, {'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store'});
  res.end(`${text}\n`);
}

/**
 * Starts the server on 127.0.0.1 (port 0 = a free one). Resolves to {url, port, close()}.
 * Options: port, floatModelDir, int8ModelDir, samplesDir, log (a function for one line per request).
 * @param {import('./serve.d.mts').DemoServerOptions} [options]
 * @returns {Promise<import('./serve.d.mts').DemoServer>}
 */
export async function startDemoServer(options = {}) {
  const dirs = {
    ...defaultModelDirs(),
    samplesDir: join(ROOT, 'test', 'fixtures', 'images'),
    ...Object.fromEntries(Object.entries(options).filter(([key, value]) => key.endsWith('Dir') && value !== undefined)),
  };
  const table = mounts(dirs).map(([prefix, dir]) => [prefix, resolve(dir)]);
  const log = options.log ?? (() => {});

  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'only GET and HEAD');
      return;
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      send(res, 400, 'bad URL');
      return;
    }
    if (pathname === '/') pathname = '/index.html';
    if (pathname === '/samples/index.json') {
      const names = existsSync(dirs.samplesDir)
        ? readdirSync(dirs.samplesDir).filter(n => /\.(jpe?g|png)$/i.test(n)).sort() : [];
      res.writeHead(200, {'Content-Type': TYPES['.json'], 'Cache-Control': 'no-store'});
      res.end(JSON.stringify(names));
      log(`200 ${pathname}`);
      return;
    }
    const mount = table.find(([prefix]) => pathname.startsWith(prefix));
    const file = mount === undefined ? null : fileInside(mount[1], pathname.slice(mount[0].length));
    const type = file === null ? undefined : TYPES[extname(file).toLowerCase()];
    let size = -1;
    if (file !== null && type !== undefined) {
      try {
        const stat = statSync(file);
        if (stat.isFile()) size = stat.size;
      } catch {
        size = -1;
      }
    }
    if (file === null || type === undefined || size < 0) {
      log(`404 ${pathname}`);
      send(res, 404, `not found: ${pathname}`);
      return;
    }
    res.writeHead(200, {'Content-Type': type, 'Content-Length': size, 'Cache-Control': 'no-store'});
    log(`200 ${pathname}`);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });

  await new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolvePromise(undefined));
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    dirs,
    close: () => new Promise(done => {
      server.closeAllConnections?.();
      server.close(() => done(undefined));
    }),
  };
}

/**
 * @param {string[]} argv
 * @returns {import('./serve.d.mts').DemoServerOptions | null}
 */
function parseArgs(argv) {
  /** @type {import('./serve.d.mts').DemoServerOptions} */
  const options = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--help' || flag === '-h') return null;
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--port') options.port = Number(value);
    else if (flag === '--float-model') options.floatModelDir = resolve(value);
    else if (flag === '--int8-model') options.int8ModelDir = resolve(value);
    else throw new Error(`unknown option ${flag}`);
    i++;
  }
  if (options.port !== undefined && !(Number.isInteger(options.port) && options.port >= 0 && options.port < 65536)) {
    throw new Error('--port must be an integer in [0, 65535]');
  }
  return options;
}

const USAGE = `Usage: node demo/web/serve.mjs [--port 8080] [--float-model <dir>] [--int8-model <dir>]
Serves the browser demo on http://127.0.0.1:<port>/ (localhost only).
Make the models first: node --import tsx demo/web/prepare-models.ts
`;

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`serve: ${/** @type {Error} */ (error).message}\n\n${USAGE}`);
    process.exitCode = 1;
    return;
  }
  if (options === null) {
    process.stdout.write(USAGE);
    return;
  }
  const server = await startDemoServer({...options, port: options.port ?? 8080});
  const missing = [];
  if (!existsSync(join(ROOT, 'dist', 'tfjs-backend-int8.min.js'))) missing.push('dist/ is not built: npm run build');
  for (const [what, dir] of [['float', server.dirs.floatModelDir], ['int8', server.dirs.int8ModelDir]]) {
    if (!existsSync(join(dir, 'model.json'))) missing.push(`no ${what} model in ${dir}: node --import tsx demo/web/prepare-models.ts`);
  }
  for (const line of missing) process.stderr.write(`serve: warning: ${line}\n`);
  process.stdout.write(`demo: ${server.url}  (float model ${server.dirs.floatModelDir}, int8 model ${server.dirs.int8ModelDir})\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch(error => {
    process.stderr.write(`serve: ${error.message}\n`);
    process.exitCode = 1;
  });
}
