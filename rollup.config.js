// Builds the package: ESM and CJS for bundlers and Node, a minified UMD bundle
// for <script> tags. tfjs itself stays external (the `tf` global in the UMD).
import resolve from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import typescript from '@rollup/plugin-typescript';

const external = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-converter', '@tensorflow/tfjs-backend-cpu'];
const globals = {
  '@tensorflow/tfjs-core': 'tf',
  '@tensorflow/tfjs-converter': 'tf',
  '@tensorflow/tfjs-backend-cpu': 'tf',
};
const ts = () => typescript({tsconfig: './tsconfig.build.json'});

export default [
  {
    input: 'src/index.ts',
    external,
    plugins: [resolve(), ts()],
    output: [
      {file: 'dist/index.mjs', format: 'es', sourcemap: true},
      {file: 'dist/index.cjs', format: 'cjs', sourcemap: true, exports: 'named'},
    ],
  },
  {
    input: 'src/index.ts',
    external,
    plugins: [resolve({browser: true}), ts(), terser()],
    output: {file: 'dist/tfjs-backend-int8.min.js', format: 'umd', name: 'tfInt8', globals, sourcemap: true},
  },
];
