/**
 * Where the int8 backend gets its WebAssembly module (the SIMD kernels of kernels/wasm,
 * built into build/wasm/int8.wasm and shipped as dist/int8.wasm).
 *
 * Two ways, as with tfjs-backend-wasm:
 *
 * 1. Inline (the default, nothing to configure): every bundle embeds the module as base64
 *    (build/wasm/int8_wasm_base64.mjs). One file to ship, ≈ 21 KB of base64 for the ≈ 16 KB
 *    module; no extra request, no MIME type or CSP `connect-src` to get right.
 * 2. From a URL the app sets before the backend starts: the backend fetches the module from it.
 *    Use this to serve the module as a file of its own (cached and versioned apart from the
 *    script, e.g. from node_modules/tfjs-backend-int8/dist/ or a CDN path), or to try another
 *    build of the kernels without rebuilding the bundle. The inlined copy stays in the bundle.
 *
 * ```js
 * import {setWasmPaths} from 'tfjs-backend-int8';
 * setWasmPaths('/static/tfjs-backend-int8/');                 // prefix: + 'int8.wasm'
 * setWasmPaths({'int8.wasm': '/static/int8.3f9c2a.wasm'});    // or one URL per file
 * await tf.setBackend('int8');
 * ```
 * UMD (`<script>`): `tfInt8.setWasmPaths(...)`.
 *
 * Like tfjs-backend-wasm's `setWasmPaths`, a string is a prefix that the file name is appended
 * to as is — a directory needs its trailing slash — and the call must come before the backend is
 * initialized (`tf.setBackend('int8')`, `tf.ready()`); later calls throw.
 */

/** The file name of the module, the key of a file map. */
export const INT8_WASM_FILE_NAME = 'int8.wasm';

/** Explicit URL per WebAssembly file of this backend (there is one). */
export interface Int8WasmFileMap {
  'int8.wasm': string;
}

let configuredPath: string | undefined;
let locked = false;

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : value === null ? 'null' : typeof value;
}

/**
 * Makes the backend fetch its WebAssembly module from `prefix + 'int8.wasm'` (a string) or from
 * the URL given for `'int8.wasm'` (a map), instead of using the copy inlined in the bundle.
 * Relative URLs resolve against the page (`document.baseURI`) as `fetch` resolves them; in Node,
 * a `file:` URL or an absolute path is read from disk.
 * Throws on an empty prefix, a map without a string `'int8.wasm'` entry or with another key, and
 * once the backend has been initialized.
 */
export function setWasmPaths(prefixOrFileMap: string | Int8WasmFileMap): void {
  if (locked) {
    throw new Error('setWasmPaths: the int8 backend is already initialized; call setWasmPaths() before ' +
      "tf.setBackend('int8') or tf.ready().");
  }
  if (typeof prefixOrFileMap === 'string') {
    if (prefixOrFileMap === '') throw new Error('setWasmPaths: the prefix is empty (give a URL such as \'/static/\')');
    configuredPath = prefixOrFileMap + INT8_WASM_FILE_NAME;
    return;
  }
  if (prefixOrFileMap === null || typeof prefixOrFileMap !== 'object') {
    throw new Error(`setWasmPaths: expected a prefix string or {'${INT8_WASM_FILE_NAME}': url}, got ${describe(prefixOrFileMap)}`);
  }
  const unknownKeys = Object.keys(prefixOrFileMap).filter(key => key !== INT8_WASM_FILE_NAME);
  if (unknownKeys.length > 0) {
    throw new Error(`setWasmPaths: unknown file name(s) ${unknownKeys.map(k => `'${k}'`).join(', ')}; ` +
      `this backend has one module, '${INT8_WASM_FILE_NAME}'`);
  }
  const url = prefixOrFileMap[INT8_WASM_FILE_NAME];
  if (typeof url !== 'string' || url === '') {
    throw new Error(`setWasmPaths: the file map needs a non-empty URL for '${INT8_WASM_FILE_NAME}', got ${describe(url)}`);
  }
  configuredPath = url;
}

/**
 * The URL the module is fetched from, as set by setWasmPaths; undefined when the inlined copy
 * is used (the default).
 */
export function getWasmPath(): string | undefined {
  return configuredPath;
}

/** Forgets the configured path (back to the inlined module) and unlocks. For tests. */
export function resetWasmPaths(): void {
  configuredPath = undefined;
  locked = false;
}

/**
 * Called by the backend when it has chosen its module source: setWasmPaths throws from then on.
 * Not part of the public API.
 */
export function lockWasmPaths(): void {
  locked = true;
}

interface NodeFs {
  readFileSync(path: string | URL): Uint8Array;
}

/** node:fs when running in Node (without a static import, which would reach the browser bundle). */
function nodeFs(): NodeFs | undefined {
  const proc = (globalThis as {process?: {versions?: {node?: string}; getBuiltinModule?: (id: string) => unknown}}).process;
  if (proc?.versions?.node === undefined || proc.getBuiltinModule === undefined) return undefined;
  return proc.getBuiltinModule('node:fs') as NodeFs;
}

/**
 * The bytes of the module at getWasmPath() (fetched; read from disk in Node for `file:` URLs and
 * absolute paths); null when no path is set, so the caller uses the inlined copy. Errors name the
 * URL and the HTTP status. This is what the backend calls before instantiating the module.
 */
export async function fetchInt8WasmBytes(): Promise<ArrayBuffer | null> {
  const url = configuredPath;
  if (url === undefined) return null;
  const fs = nodeFs();
  if (fs !== undefined && (url.startsWith('file:') || url.startsWith('/'))) {
    try {
      const bytes = fs.readFileSync(url.startsWith('file:') ? new URL(url) : url);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    } catch (error) {
      throw new Error(`int8 backend: cannot read its WebAssembly module ${url}: ${(error as Error).message}`);
    }
  }
  let response: Response;
  try {
    response = await fetch(url, {credentials: 'same-origin'});
  } catch (error) {
    throw new Error(`int8 backend: cannot fetch its WebAssembly module from ${url} (set by setWasmPaths): ` +
      `${(error as Error).message}`);
  }
  if (!response.ok) {
    throw new Error(`int8 backend: fetching its WebAssembly module from ${url} (set by setWasmPaths) ` +
      `failed with HTTP ${response.status} ${response.statusText}`);
  }
  return response.arrayBuffer();
}
