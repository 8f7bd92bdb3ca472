// Builds the package (`npm run build` = `rollup -c rollup.config.js`):
//   dist/index.mjs                  ESM, for bundlers and Node
//   dist/index.cjs                  CommonJS, for Node's require()
//   dist/tfjs-backend-int8.min.js   minified UMD, for <script> tags: the exports go to `tf.int8`
//   dist/int8.wasm                  the WebAssembly kernels as a file, for setWasmPaths()
//   dist/types/                     declarations
// tfjs itself stays external: tfjs-core, tfjs-converter and tfjs-backend-cpu are imports in
// ESM/CJS and the `tf` global in the UMD bundle (load tf-core, tf-converter and
// tf-backend-cpu first), as tfjs's own backend packages do.
// The bundles are browser-safe: a Node-only module (src/io, node: builtins) reaching them is a
// build error.
import {execFileSync} from 'node:child_process';
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs';
import {builtinModules} from 'node:module';
import {dirname, join, relative, sep} from 'node:path';
import {fileURLToPath} from 'node:url';

import resolve from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import typescript from '@rollup/plugin-typescript';

const root = dirname(fileURLToPath(import.meta.url));
const wasmSources = join(root, 'kernels', 'wasm', 'assembly');
const wasmOutputs = ['int8.wasm', 'int8_wasm_base64.mjs', 'int8_wasm_base64.d.mts'].map(f => join(root, 'build', 'wasm', f));

const external = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-converter', '@tensorflow/tfjs-backend-cpu'];
const globals = {
  '@tensorflow/tfjs-core': 'tf',
  '@tensorflow/tfjs-converter': 'tf',
  '@tensorflow/tfjs-backend-cpu': 'tf',
};

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds the WebAssembly kernels (node kernels/wasm/build.mjs) when missing or older than their sources. */
function ensureWasmBuilt() {
  if (!existsSync(wasmSources)) return;
  const oldest = Math.min(...wasmOutputs.map(f => (existsSync(f) ? statSync(f).mtimeMs : 0)));
  if (oldest > newestMtime(wasmSources)) return;
  execFileSync(process.execPath, [join(root, 'kernels', 'wasm', 'build.mjs')], {cwd: root, stdio: 'inherit'});
}
ensureWasmBuilt();

const nodeOnlyModules = new Set(builtinModules.flatMap(m => [m, `node:${m}`]));
const nodeOnlyDirectory = `${sep}src${sep}io${sep}`;

/** Fails the build when a Node-only module would end up in a bundle. */
function browserSafe() {
  return {
    name: 'browser-safe',
    resolveId(source, importer) {
      if (nodeOnlyModules.has(source) || source.startsWith('node:')) {
        this.error(`'${source}' (imported by ${importer ? relative(root, importer) : 'the entry'}) is a Node built-in; ` +
          'the bundles must run in browsers (only src/io may use Node, and it is not bundled)');
      }
      return null;
    },
    load(id) {
      if (id.includes(nodeOnlyDirectory)) {
        this.error(`${relative(root, id)} is Node-only (src/io) and must not be imported by the bundled code`);
      }
      return null;
    },
  };
}

/** Emits build/wasm/int8.wasm as dist/int8.wasm (the file setWasmPaths points at). */
function wasmFile() {
  return {
    name: 'wasm-file',
    generateBundle() {
      const wasm = join(root, 'build', 'wasm', 'int8.wasm');
      if (existsSync(wasm)) this.emitFile({type: 'asset', fileName: 'int8.wasm', source: readFileSync(wasm)});
    },
  };
}

const onwarn = (warning, warn) => {
  // tfjs-core's own `this` rewriting is not ours; everything else is shown.
  if (warning.code === 'THIS_IS_UNDEFINED') return;
  warn(warning);
};

export default [
  {
    input: 'src/index.ts',
    external,
    onwarn,
    plugins: [
      browserSafe(),
      resolve(),
      typescript({tsconfig: './tsconfig.build.json'}),
      wasmFile(),
    ],
    output: [
      {file: 'dist/index.mjs', format: 'es', sourcemap: true},
      {file: 'dist/index.cjs', format: 'cjs', sourcemap: true, exports: 'named'},
    ],
  },
  {
    input: 'src/index.ts',
    external,
    onwarn,
    plugins: [
      browserSafe(),
      resolve({browser: true}),
      typescript({tsconfig: './tsconfig.build.json', declaration: false, declarationDir: undefined}),
      terser({format: {comments: false}}),
    ],
    output: {
      file: 'dist/tfjs-backend-int8.min.js',
      format: 'umd',
      name: 'tf.int8',
      extend: true,
      globals,
      sourcemap: true,
    },
  },
];
