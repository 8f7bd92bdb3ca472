// Micro-benchmark of the int8 WebAssembly SIMD kernels (kernels/wasm) against
// tfjs-backend-wasm float32 (XNNPACK, one thread) on the same shapes, in one process.
// Run: node --import tsx bench/micro/gemm.ts [--runs N] [--quick]
// Prints GMAC/s (median of runs; also the best run) per kernel and shape.
// A benchmark, not a test: numbers depend on the machine and its load.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import {setThreadsCount} from '@tensorflow/tfjs-backend-wasm';

import {Int8Wasm, loadInt8WasmSync} from '../../kernels/wasm/loader';

const args = process.argv.slice(2);
const RUNS = Number(args[args.indexOf('--runs') + 1]) || (args.includes('--quick') ? 5 : 15);
const WARMUP = 3;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}
const rand = rng(1);
const randInt8 = (n: number, lo = -128, hi = 127) => Int8Array.from({length: n}, () => lo + Math.floor(rand() * (hi - lo + 1)));
const randF32 = (n: number) => Float32Array.from({length: n}, () => rand() * 2 - 1);

interface Stat {
  median: number;
  best: number;
}

function time(fn: () => void): Stat {
  for (let i = 0; i < WARMUP; i++) fn();
  const t: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const s = performance.now();
    fn();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return {median: t[t.length >> 1], best: t[0]};
}

interface Row {
  kernel: string;
  shape: string;
  macs: number;
  int8: Stat;
  int32?: Stat;
  float: Stat;
}
const rows: Row[] = [];

function requantFor(wasm: Int8Wasm, n: number) {
  const m0 = Int32Array.from({length: n}, (_, i) => 1300000000 + i * 1000);
  const shift = Int32Array.from({length: n}, (_, i) => -7 - (i % 4));
  return wasm.createRequantTable(m0, shift, n);
}

function benchGemm(wasm: Int8Wasm, m: number, k: number, n: number): void {
  const a = wasm.allocInt8(randInt8(m * k));
  const weights = wasm.packGemmWeights(randInt8(k * n, -127, 127), k, n,
    {bias: Int32Array.from({length: n}, () => Math.floor(rand() * 2000 - 1000))});
  const table = requantFor(wasm, n);
  const out8 = wasm.allocInt8(m * n);
  const out32 = wasm.allocInt32(m * n);
  const int8 = time(() => wasm.gemmInt8({a, m, zeroPointA: -3, weights, out: out8, requant: table, zeroPointOut: -128, lo: -128, hi: 127}));
  const int32 = time(() => wasm.gemmInt32({a, m, zeroPointA: -3, weights, out: out32}));
  const fa = tf.tensor2d(randF32(m * k), [m, k]);
  const fb = tf.tensor2d(randF32(k * n), [k, n]);
  const float = time(() => {
    const r = tf.matMul(fa, fb);
    r.dataSync();
    r.dispose();
  });
  tf.dispose([fa, fb]);
  [a, out8, out32].forEach((p) => wasm.free(p));
  weights.free(); table.free();
  rows.push({kernel: 'gemm / matMul', shape: `M=${m} K=${k} N=${n}`, macs: m * k * n, int8, int32, float});
}

function benchConv(wasm: Int8Wasm, h: number, w: number, cin: number, cout: number, k: number, s: number): void {
  const oh = Math.ceil(h / s), ow = Math.ceil(w / s);
  const padH = Math.max(0, (oh - 1) * s + k - h), padW = Math.max(0, (ow - 1) * s + k - w);
  const input = wasm.allocInt8(randInt8(h * w * cin));
  const weights = wasm.packGemmWeights(randInt8(k * k * cin * cout, -127, 127), k * k * cin, cout);
  const table = requantFor(wasm, cout);
  const out8 = wasm.allocInt8(oh * ow * cout);
  const out32 = wasm.allocInt32(oh * ow * cout);
  const g = {batch: 1, inHeight: h, inWidth: w, inChannels: cin, filterHeight: k, filterWidth: k, strideHeight: s,
    strideWidth: s, padTop: padH >> 1, padLeft: padW >> 1, outHeight: oh, outWidth: ow};
  const int8 = time(() => wasm.conv2dInt8({...g, input, zeroPointIn: 5, weights, out: out8, requant: table, zeroPointOut: -128}));
  const int32 = time(() => wasm.conv2dInt32({...g, input, zeroPointIn: 5, weights, out: out32}));
  const fx = tf.tensor4d(randF32(h * w * cin), [1, h, w, cin]);
  const ff = tf.tensor4d(randF32(k * k * cin * cout), [k, k, cin, cout]);
  const float = time(() => {
    const r = tf.conv2d(fx, ff, s, 'same');
    r.dataSync();
    r.dispose();
  });
  tf.dispose([fx, ff]);
  [input, out8, out32].forEach((p) => wasm.free(p));
  weights.free(); table.free();
  rows.push({kernel: `conv2d ${k}x${k} s${s}`, shape: `${h}x${w}x${cin} -> ${cout}`, macs: oh * ow * cout * k * k * cin, int8, int32, float});
}

function benchDepthwise(wasm: Int8Wasm, h: number, w: number, c: number, k: number, s: number): void {
  const oh = Math.ceil(h / s), ow = Math.ceil(w / s);
  const padH = Math.max(0, (oh - 1) * s + k - h), padW = Math.max(0, (ow - 1) * s + k - w);
  const input = wasm.allocInt8(randInt8(h * w * c));
  const weights = wasm.packDepthwiseWeights(randInt8(k * k * c, -127, 127), k, k, c, 1);
  const table = requantFor(wasm, c);
  const out8 = wasm.allocInt8(oh * ow * c);
  const out32 = wasm.allocInt32(oh * ow * c);
  const g = {batch: 1, inHeight: h, inWidth: w, strideHeight: s, strideWidth: s, padTop: padH >> 1,
    padLeft: padW >> 1, outHeight: oh, outWidth: ow};
  const int8 = time(() => wasm.depthwiseConv2dInt8({...g, input, zeroPointIn: 5, weights, out: out8, requant: table, zeroPointOut: -128}));
  const int32 = time(() => wasm.depthwiseConv2dInt32({...g, input, zeroPointIn: 5, weights, out: out32}));
  const fx = tf.tensor4d(randF32(h * w * c), [1, h, w, c]);
  const ff = tf.tensor4d(randF32(k * k * c), [k, k, c, 1]);
  const float = time(() => {
    const r = tf.depthwiseConv2d(fx, ff, s, 'same');
    r.dataSync();
    r.dispose();
  });
  tf.dispose([fx, ff]);
  [input, out8, out32].forEach((p) => wasm.free(p));
  weights.free(); table.free();
  rows.push({kernel: `depthwise ${k}x${k} s${s}`, shape: `${h}x${w}x${c}`, macs: oh * ow * c * k * k, int8, int32, float});
}

function benchElementwise(wasm: Int8Wasm, n: number): void {
  const src = wasm.allocFloat32(randF32(n));
  const codes = wasm.allocInt8(n);
  const back = wasm.allocFloat32(n);
  const q = time(() => wasm.quantize(src, n, 1 / 127, 0, codes));
  const d = time(() => wasm.dequantize(codes, n, 1 / 127, 0, back));
  [src, codes, back].forEach((p) => wasm.free(p));
  console.log(`quantize f32->int8 ${n} values: ${(n / q.median / 1e6).toFixed(2)} G/s; ` +
    `dequantize int8->f32: ${(n / d.median / 1e6).toFixed(2)} G/s`);
}

async function main(): Promise<void> {
  setThreadsCount(1);
  await tf.setBackend('wasm');
  await tf.ready();
  const wasm = loadInt8WasmSync();
  if (wasm == null) throw new Error('WebAssembly SIMD is not available');
  console.log(`node ${process.version}, tfjs ${tf.version_core} backend ${tf.getBackend()} (1 thread), ${RUNS} runs + ${WARMUP} warm-up`);

  benchGemm(wasm, 3136, 64, 128);
  benchGemm(wasm, 784, 256, 256);
  benchGemm(wasm, 196, 512, 512);
  benchGemm(wasm, 49, 1024, 1024);
  benchConv(wasm, 56, 56, 32, 64, 3, 1);
  benchConv(wasm, 28, 28, 32, 32, 3, 1);
  benchConv(wasm, 224, 224, 3, 32, 3, 2);
  benchConv(wasm, 56, 56, 64, 128, 1, 1);
  benchDepthwise(wasm, 112, 112, 64, 3, 1);
  benchDepthwise(wasm, 112, 112, 32, 3, 1);
  benchDepthwise(wasm, 56, 56, 128, 3, 2);
  benchDepthwise(wasm, 14, 14, 512, 3, 1);
  benchDepthwise(wasm, 28, 28, 256, 5, 1);

  const g = (macs: number, s: Stat | undefined) => (s ? (macs / s.median / 1e6).toFixed(1) : '-');
  const gb = (macs: number, s: Stat | undefined) => (s ? (macs / s.best / 1e6).toFixed(1) : '-');
  const header = ['kernel', 'shape', 'MMAC', 'int8 out', '(best)', 'int32 out', 'tfjs-wasm f32', 'int8 / f32'];
  const table = rows.map((r) => [r.kernel, r.shape, (r.macs / 1e6).toFixed(1), g(r.macs, r.int8), gb(r.macs, r.int8),
    g(r.macs, r.int32), g(r.macs, r.float), (r.float.median / r.int8.median).toFixed(2) + 'x']);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log('GMAC/s (median of runs)');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const t of table) console.log(line(t));
  benchElementwise(wasm, 1 << 20);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
