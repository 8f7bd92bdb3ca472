// setWasmPaths / getWasmPath (src/wasm_paths.ts): the API shape of tfjs-backend-wasm's, its
// errors, and reading the module from the configured place (in Node: a file).

import {existsSync, readFileSync} from 'node:fs';
import {createServer} from 'node:http';
import type {AddressInfo} from 'node:net';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';

import {afterEach, describe, expect, it} from 'vitest';

import {
  fetchInt8WasmBytes, getWasmPath, INT8_WASM_FILE_NAME, lockWasmPaths, resetWasmPaths, setWasmPaths,
} from '../../src/wasm_paths';
import type {Int8WasmFileMap} from '../../src/wasm_paths';
import {ROOT} from './harness';

const WASM_FILE = join(ROOT, 'build', 'wasm', 'int8.wasm');

afterEach(() => resetWasmPaths());

describe('setWasmPaths / getWasmPath', () => {
  it('defaults to the inlined module (no path)', async () => {
    expect(getWasmPath()).toBeUndefined();
    expect(await fetchInt8WasmBytes()).toBeNull();
  });

  it('appends the file name to a prefix as is, like tfjs-backend-wasm', () => {
    setWasmPaths('/static/');
    expect(getWasmPath()).toBe('/static/int8.wasm');
    setWasmPaths('https://example.test/v2/tfjs-');
    expect(getWasmPath()).toBe('https://example.test/v2/tfjs-int8.wasm');
    expect(INT8_WASM_FILE_NAME).toBe('int8.wasm');
  });

  it('takes the URL of a file map', () => {
    setWasmPaths({'int8.wasm': '/assets/int8.3f9c2a.wasm'});
    expect(getWasmPath()).toBe('/assets/int8.3f9c2a.wasm');
  });

  it('rejects bad arguments with errors that say what was expected', () => {
    expect(() => setWasmPaths('')).toThrow(/prefix is empty/);
    expect(() => setWasmPaths({'int8.wasm': ''})).toThrow(/non-empty URL for 'int8.wasm'/);
    expect(() => setWasmPaths({'tfjs-backend-wasm.wasm': '/x.wasm'} as unknown as Int8WasmFileMap))
      .toThrow(/unknown file name\(s\) 'tfjs-backend-wasm.wasm'/);
    expect(() => setWasmPaths(null as unknown as string)).toThrow(/expected a prefix string/);
    expect(() => setWasmPaths(42 as unknown as string)).toThrow(/got number/);
    expect(getWasmPath()).toBeUndefined();
  });

  it('throws once the backend has taken its module', () => {
    lockWasmPaths();
    expect(() => setWasmPaths('/static/')).toThrow(/already initialized.*before tf.setBackend\('int8'\)/);
  });

  it.skipIf(!existsSync(WASM_FILE))('reads the module from a file: URL or an absolute path in Node', async () => {
    const expected = readFileSync(WASM_FILE);
    for (const prefix of [`${pathToFileURL(join(ROOT, 'build', 'wasm')).href}/`, `${join(ROOT, 'build', 'wasm')}/`]) {
      setWasmPaths(prefix);
      const bytes = await fetchInt8WasmBytes();
      expect(bytes).not.toBeNull();
      expect(Buffer.from(bytes as ArrayBuffer).equals(expected)).toBe(true);
      expect(WebAssembly.validate(new Uint8Array(bytes as ArrayBuffer))).toBe(true);
    }
  });

  it('names the file when it cannot be read', async () => {
    setWasmPaths('/nonexistent/dir/');
    await expect(fetchInt8WasmBytes()).rejects.toThrow(/cannot read its WebAssembly module \/nonexistent\/dir\/int8.wasm/);
  });

  it.skipIf(!existsSync(WASM_FILE))('fetches the module over HTTP, and names the URL and status on failure', async () => {
    const expected = readFileSync(WASM_FILE);
    const server = createServer((req, res) => {
      if (req.url === '/assets/int8.wasm') {
        res.writeHead(200, {'Content-Type': 'application/wasm'});
        res.end(expected);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>(done => server.listen(0, '127.0.0.1', done));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      setWasmPaths(`${base}/assets/`);
      const bytes = await fetchInt8WasmBytes();
      expect(Buffer.from(bytes as ArrayBuffer).equals(expected)).toBe(true);
      setWasmPaths({'int8.wasm': `${base}/missing.wasm`});
      await expect(fetchInt8WasmBytes()).rejects.toThrow(`${base}/missing.wasm (set by setWasmPaths) failed with HTTP 404`);
    } finally {
      server.closeAllConnections();
      await new Promise(done => server.close(done));
    }
  });
});
