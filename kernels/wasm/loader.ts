/**
 * Loader and typed wrapper of the int8 WebAssembly SIMD kernel library
 * (kernels/wasm/assembly, built by kernels/wasm/build.mjs into build/wasm/).
 *
 * Memory: the module exports a growable memory and an allocator (bump + free list,
 * 16-byte aligned). Quantized codes and packed weights can stay resident there, so
 * that consecutive kernels pass pointers instead of copies. Any call that may
 * allocate (alloc, packing, every kernel — they take scratch space) may grow the
 * memory, which detaches every typed-array view of the old buffer: never keep a
 * view across such a call; ask `heapI8()` etc. (or `WasmCodeStore.codes()`) again.
 */
import int8WasmBase64 from '../../build/wasm/int8_wasm_base64.mjs';
import type {CodeDtype} from '../../src/quant/types';

/** The raw exports of build/wasm/int8.wasm (pointers and sizes are byte offsets/counts). */
export interface Int8WasmExports {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  free(ptr: number): number;
  allocatedBytes(): number;
  heapEnd(): number;
  freeBlockCount(): number;
  requantTableCreate(m0Ptr: number, shiftPtr: number, n: number, perTensor: number): number;
  requantScalar(x: number, m0: number, shift: number): number;
  gemmPack(w: number, k: number, n: number, transposed: number, bias: number, elemBytes: number): number;
  gemmI8(a: number, lda: number, m: number, zA: number, packed: number, table: number,
         zOut: number, lo: number, hi: number, out: number, ldc: number): number;
  gemmI32(a: number, lda: number, m: number, zA: number, packed: number, out: number, ldc: number): number;
  gemmF32(a: number, lda: number, m: number, zA: number, packed: number, out: number, ldc: number): number;
  floatEpilogueSet(scales: number, bias: number, act: number): void;
  floatEpilogueRange(out: number): void;
  conv2d(input: number, batch: number, h: number, w: number, cin: number,
         kh: number, kw: number, sh: number, sw: number, dh: number, dw: number,
         padTop: number, padLeft: number, oh: number, ow: number, zIn: number,
         packed: number, table: number, zOut: number, lo: number, hi: number,
         out: number, outKind: number): number;
  dwPack(w: number, kh: number, kw: number, c: number, mult: number, bias: number, elemBytes: number): number;
  depthwiseConv2d(input: number, batch: number, h: number, w: number, c: number, packed: number,
                  sh: number, sw: number, dh: number, dw: number, padTop: number, padLeft: number,
                  oh: number, ow: number, zIn: number, table: number, zOut: number, lo: number, hi: number,
                  out: number, outKind: number): number;
  quantizeF32ToI8(src: number, n: number, scale: number, zeroPoint: number, dst: number): number;
  dequantizeI8ToF32(src: number, n: number, scale: number, zeroPoint: number, dst: number): void;
  dequantizeI32ToF32PerChannel(src: number, rows: number, channels: number, scales: number, dst: number): void;
  rangeF32(src: number, n: number, out: number): number;
  gemmBiasPtr(packed: number): number;
  dwBiasPtr(packed: number): number;
  dequantizeI32Epilogue(src: number, rows: number, channels: number, scales: number, bias: number, act: number,
                        dst: number): void;
  transposeI8(src: number, rows: number, cols: number, dst: number): void;
  repeatChannelsI8(src: number, pixels: number, c: number, m: number, dst: number): void;
  addI8(a: number, b: number, out: number, n: number, zA: number, mA: number, sA: number, zB: number, mB: number,
        sB: number, zO: number, mO: number, sO: number, lo: number, hi: number): number;
  padRowsI8(src: number, rows: number, run: number, offsets: number, dst: number, dstLen: number, fill: number): void;
  preluI32ToI8(src: number, rows: number, channels: number, pos: number, neg: number, signs: number, zOut: number,
               lo: number, hi: number, dst: number): void;
}

/** Same shape as src/code_store.ts's CodeStore (kept local: kernels/ does not import src/backend). */
export interface CodeStore {
  readonly dtype: CodeDtype;
  readonly length: number;
  codes(): Int8Array | Int32Array;
  free(): void;
}

// A minimal module using one SIMD instruction (i8x16.splat; drop) — validation fails
// on engines without WebAssembly SIMD.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
  0x03, 0x02, 0x01, 0x00, // function section
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0x1a, 0x0b, // code: i32.const 0; i8x16.splat; drop; end
]);

let simdCache: boolean | undefined;

/** True when this engine validates WebAssembly SIMD (fixed-width, not relaxed). */
export function simdSupported(): boolean {
  if (simdCache === undefined) {
    try {
      simdCache = typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
    } catch {
      simdCache = false;
    }
  }
  return simdCache;
}

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const nodeBuffer = (globalThis as {Buffer?: {from(s: string, enc: string): Uint8Array}}).Buffer;
  if (nodeBuffer !== undefined) {
    return new Uint8Array(nodeBuffer.from(b64, 'base64'));
  }
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

const IMPORTS = {
  env: {
    abort(): never {
      throw new Error('int8 wasm kernels: abort');
    },
  },
};

/** The module's bytes: the embedded base64 copy of build/wasm/int8.wasm. */
export function int8WasmBytes(): Uint8Array<ArrayBuffer> {
  return decodeBase64(int8WasmBase64);
}

/**
 * Instantiates the kernels (a new instance with its own memory). Resolves to null
 * when WebAssembly SIMD is not available or instantiation fails.
 */
export async function loadInt8Wasm(): Promise<Int8Wasm | null> {
  if (!simdSupported()) return null;
  try {
    const module = await WebAssembly.compile(int8WasmBytes());
    const instance = await WebAssembly.instantiate(module, IMPORTS);
    return new Int8Wasm(instance.exports as unknown as Int8WasmExports);
  } catch {
    return null;
  }
}

/**
 * Synchronous variant (Node, workers): compiles build/wasm/int8.wasm read from disk
 * when running in Node with the file present (or `path`), else the embedded copy.
 * Returns null when WebAssembly SIMD is not available.
 */
export function loadInt8WasmSync(path?: string | URL): Int8Wasm | null {
  if (!simdSupported()) return null;
  let bytes: Uint8Array<ArrayBuffer> | null = null;
  const proc = (globalThis as {process?: {getBuiltinModule?: (id: string) => unknown}}).process;
  const fs = proc?.getBuiltinModule?.('node:fs') as
    {readFileSync(p: string | URL): Uint8Array} | undefined;
  if (fs !== undefined) {
    try {
      bytes = new Uint8Array(fs.readFileSync(path ?? new URL('../../build/wasm/int8.wasm', import.meta.url)));
    } catch (e) {
      if (path !== undefined) throw e;
      bytes = null;
    }
  }
  if (bytes === null) bytes = int8WasmBytes();
  const module = new WebAssembly.Module(bytes);
  const instance = new WebAssembly.Instance(module, IMPORTS);
  return new Int8Wasm(instance.exports as unknown as Int8WasmExports);
}

let shared: Int8Wasm | null | undefined;

/**
 * The process-wide instance (created synchronously on first use) in which the
 * backend keeps its codes and packed weights; null without WebAssembly SIMD, or
 * when synchronous compilation fails (e.g. a browser main thread refusing to
 * compile a module this size synchronously: call preloadSharedInt8Wasm first).
 */
export function sharedInt8Wasm(): Int8Wasm | null {
  if (shared === undefined) {
    try {
      shared = loadInt8WasmSync();
    } catch {
      shared = null;
    }
  }
  return shared;
}

/**
 * Compiles and instantiates the process-wide instance asynchronously (the way
 * browsers want it: a main thread may refuse to compile a module this size
 * synchronously), from `bytes` (e.g. fetched from a URL the app configured) or
 * the embedded copy, so that sharedInt8Wasm() never compiles synchronously.
 * Call it before the first kernel runs (e.g. in the backend's async factory).
 * Once an instance exists it is kept (tensors may hold codes in its memory)
 * and `bytes` are ignored. Resolves to the instance, or null without
 * WebAssembly SIMD; rejects when given `bytes` fail to compile or instantiate.
 */
export async function preloadSharedInt8Wasm(bytes?: BufferSource): Promise<Int8Wasm | null> {
  if (shared !== undefined && shared !== null) return shared;
  if (!simdSupported()) {
    shared = null;
    return null;
  }
  let loaded: Int8Wasm | null;
  if (bytes === undefined) {
    loaded = await loadInt8Wasm();
  } else {
    const module = await WebAssembly.compile(bytes);
    const instance = await WebAssembly.instantiate(module, IMPORTS);
    loaded = new Int8Wasm(instance.exports as unknown as Int8WasmExports);
  }
  if (shared === undefined || shared === null) shared = loaded;
  return shared;
}

const ERRORS: Record<number, string> = {
  [-1]: 'out of WebAssembly memory',
  [-2]: 'the packed weights are not of this kind (or were freed)',
  [-3]: 'the requantization table is missing or has fewer channels than the output',
  [-4]: 'the packed weights do not match the input shape',
  [-5]: 'unknown output kind',
};

function check(kernel: string, code: number): void {
  if (code !== 0) throw new Error(`int8 wasm ${kernel}: ${ERRORS[code] ?? `error ${code}`}`);
}

function checkInt(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new Error(`int8 wasm: ${name} = ${v} is not an integer in [${lo}, ${hi}]`);
  }
}

/** Int8 output clamp (fused activation), zero point of the output. */
export interface Int8OutputParams {
  /** Requantization table of the output channels (see Int8Wasm.createRequantTable). */
  requant: RequantTable;
  zeroPointOut: number;
  /** Clamp bounds, default [-128, 127]; a fused ReLU/ReLU6 tightens them. */
  lo?: number;
  hi?: number;
}

/**
 * The float32 output of the dynamic mode, fused into the kernels' epilogue:
 * `out = act(float32(scale[c]·acc) + bias[c])` (float64 product rounded once,
 * then a float32 addition; relu `v < 0 ? 0 : v`, relu6 also `v > 6 ? 6 : v`).
 */
export interface FloatOutputParams {
  /** Address of float64[channels]: the accumulator scale of each output channel. */
  scales: number;
  /** Address of float32[channels], or 0 for no bias. */
  bias: number;
  activation: 'linear' | 'relu' | 'relu6';
  /** 8 bytes from alloc where the [min, max] of the output is written. */
  rangeOut: number;
}

/** Weights packed for gemm / conv2d: K x N (conv: kh*kw*cin x cout). */
export class PackedGemmWeights {
  constructor(private readonly wasm: Int8Wasm, public ptr: number,
              readonly k: number, readonly n: number) {}
  free(): void {
    if (this.ptr !== 0) this.wasm.free(this.ptr);
    this.ptr = 0;
  }
}

/** Weights packed for depthwiseConv2d. */
export class PackedDepthwiseWeights {
  constructor(private readonly wasm: Int8Wasm, public ptr: number, readonly kh: number,
              readonly kw: number, readonly channels: number, readonly multiplier: number) {}
  free(): void {
    if (this.ptr !== 0) this.wasm.free(this.ptr);
    this.ptr = 0;
  }
}

/** Per-channel requantization constants derived from (M0, shift). */
export class RequantTable {
  constructor(private readonly wasm: Int8Wasm, public ptr: number, readonly channels: number) {}
  free(): void {
    if (this.ptr !== 0) this.wasm.free(this.ptr);
    this.ptr = 0;
  }
}

/** Convolution geometry (NHWC input, explicit padding). */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight?: number;
  strideWidth?: number;
  dilationHeight?: number;
  dilationWidth?: number;
  padTop?: number;
  padLeft?: number;
  outHeight: number;
  outWidth: number;
}

type Source = ArrayLike<number> | Int8Array | Int32Array;

/** The typed wrapper around one instance of the kernels. */
export class Int8Wasm {
  private buffer: ArrayBuffer | null = null;
  private u8View = new Uint8Array(0);
  private i8View = new Int8Array(0);
  private i32View = new Int32Array(0);
  private f32View = new Float32Array(0);
  private f64View = new Float64Array(0);

  constructor(readonly exports: Int8WasmExports) {}

  get memory(): WebAssembly.Memory {
    return this.exports.memory;
  }

  /** Re-derives the cached views if the memory has grown since they were made. */
  private views(): void {
    const buf = this.exports.memory.buffer;
    if (buf !== this.buffer) {
      this.buffer = buf;
      this.u8View = new Uint8Array(buf);
      this.i8View = new Int8Array(buf);
      this.i32View = new Int32Array(buf);
      this.f32View = new Float32Array(buf);
      this.f64View = new Float64Array(buf);
    }
  }

  /** Views of the whole memory, valid until the next call that may allocate. */
  heapU8(): Uint8Array { this.views(); return this.u8View; }
  heapI8(): Int8Array { this.views(); return this.i8View; }
  heapI32(): Int32Array { this.views(); return this.i32View; }
  heapF32(): Float32Array { this.views(); return this.f32View; }
  heapF64(): Float64Array { this.views(); return this.f64View; }

  /** Allocates `bytes` (16-byte aligned); throws when memory cannot grow. */
  alloc(bytes: number): number {
    checkInt('alloc bytes', bytes, 0, 0x7fffffff);
    const p = this.exports.alloc(bytes) >>> 0;
    if (p === 0) throw new Error(`int8 wasm: out of memory allocating ${bytes} bytes`);
    return p;
  }

  /** Frees a block from alloc (0 is ignored); throws for anything else. */
  free(ptr: number): void {
    if (this.exports.free(ptr) !== 0) throw new Error(`int8 wasm: free(${ptr}) is not a live block`);
  }

  /** Bytes currently allocated. */
  allocatedBytes(): number {
    return this.exports.allocatedBytes() >>> 0;
  }

  /** Allocates and fills int8 values (a count allocates zeroed space). */
  allocInt8(data: Source | number): number {
    const n = typeof data === 'number' ? data : data.length;
    const p = this.alloc(n);
    const v = this.heapI8();
    if (typeof data === 'number') v.fill(0, p, p + n); else v.set(data, p);
    return p;
  }

  /** Allocates and fills int32 values (a count allocates zeroed space). */
  allocInt32(data: Source | number): number {
    const n = typeof data === 'number' ? data : data.length;
    const p = this.alloc(n * 4);
    const v = this.heapI32();
    if (typeof data === 'number') v.fill(0, p >> 2, (p >> 2) + n); else v.set(data, p >> 2);
    return p;
  }

  /** Allocates and fills float32 values (a count allocates zeroed space). */
  allocFloat32(data: ArrayLike<number> | number): number {
    const n = typeof data === 'number' ? data : data.length;
    const p = this.alloc(n * 4);
    const v = this.heapF32();
    if (typeof data === 'number') v.fill(0, p >> 2, (p >> 2) + n); else v.set(data, p >> 2);
    return p;
  }

  /** Copies out n values (copies survive memory growth). */
  readInt8(ptr: number, n: number): Int8Array { return this.heapI8().slice(ptr, ptr + n); }
  readInt32(ptr: number, n: number): Int32Array { return this.heapI32().slice(ptr >> 2, (ptr >> 2) + n); }
  readFloat32(ptr: number, n: number): Float32Array { return this.heapF32().slice(ptr >> 2, (ptr >> 2) + n); }

  /**
   * Requantization table for n output channels from TFLite (M0, shift) pairs
   * (src/quant quantizeMultiplier: M0 in [0, 2^31), shift in [-31, 31], > 0 = left).
   * One pair is broadcast to all n channels when a single one is given.
   */
  createRequantTable(multiplier: ArrayLike<number>, shift: ArrayLike<number>, n = multiplier.length): RequantTable {
    if (multiplier.length !== shift.length || (multiplier.length !== n && multiplier.length !== 1)) {
      throw new Error(`int8 wasm createRequantTable: ${multiplier.length} multipliers and ` +
        `${shift.length} shifts given for ${n} channels`);
    }
    for (let i = 0; i < multiplier.length; i++) {
      checkInt(`multiplier[${i}]`, multiplier[i], 0, 0x7fffffff);
      checkInt(`shift[${i}]`, shift[i], -31, 31);
    }
    const m0 = this.allocInt32(multiplier);
    let sh = 0;
    let t = 0;
    try {
      sh = this.allocInt32(shift);
      t = this.exports.requantTableCreate(m0, sh, n, multiplier.length === 1 && n !== 1 ? 1 : 0) >>> 0;
    } finally {
      this.free(m0);
      if (sh !== 0) this.free(sh);
    }
    if (t === 0) throw new Error('int8 wasm createRequantTable: out of memory');
    return new RequantTable(this, t, n);
  }

  /**
   * Packs int8 weights B [k, n] row-major (or [n, k] with transposed) and an optional
   * int32 bias [n] for gemm/conv2d. For conv2d, B is the HWIO filter as [kh*kw*cin, cout].
   */
  packGemmWeights(weights: Int8Array | number, k: number, n: number,
                  options: {transposed?: boolean; bias?: Int32Array | number; int8?: boolean} = {}): PackedGemmWeights {
    checkInt('k', k, 1, 1 << 24);
    checkInt('n', n, 1, 1 << 24);
    if (typeof weights !== 'number' && weights.length !== k * n) {
      throw new Error(`int8 wasm packGemmWeights: ${weights.length} weights given for ${k} x ${n}`);
    }
    if (options.bias !== undefined && typeof options.bias !== 'number' && options.bias.length !== n) {
      throw new Error(`int8 wasm packGemmWeights: ${options.bias.length} biases given for ${n} channels`);
    }
    const p = this.packStaged('packGemmWeights', weights, options.bias,
        (w, b) => this.exports.gemmPack(w, k, n, options.transposed ? 1 : 0, b, options.int8 === true ? 1 : 2));
    return new PackedGemmWeights(this, p, k, n);
  }

  /**
   * The int8 weights B that `packed` was packed from, as a new JavaScript array in the
   * layout packGemmWeights took them (`[k, n]`, or `[n, k]` with transposed): lets a
   * caller drop its own copy of the codes once they are packed.
   */
  unpackGemmWeights(packed: PackedGemmWeights, transposed: boolean): Int8Array {
    if (packed.ptr === 0) throw new Error('int8 wasm unpackGemmWeights: the packed weights were freed');
    const i32 = this.heapI32();
    const h = packed.ptr >> 2;
    // Header (assembly/gemm.ts): k, n, ks, panels, lastW, bias, data, tag, elemBytes.
    const k = i32[h], n = i32[h + 1], ks = i32[h + 2], panels = i32[h + 3], lastW = i32[h + 4];
    const data = i32[h + 6], elem = i32[h + 8];
    const out = new Int8Array(k * n);
    const heap8 = this.heapI8();
    const heap16 = elem === 2 ? new Int16Array(heap8.buffer) : null;
    for (let col = 0; col < n; col++) {
      const pn = col >> 4;
      const width = pn === panels - 1 ? lastW : 16;
      const j = col & 15;
      const panel = data + pn * ks * 16 * elem;
      for (let row = 0; row < k; row++) {
        const index = ((row >> 1) * width + j) * 2 + (row & 1);
        const v = heap16 !== null ? heap16[(panel >> 1) + index] : heap8[panel + index];
        out[transposed ? col * k + row : row * n + col] = v;
      }
    }
    return out;
  }

  /**
   * Packs a depthwise filter [kh, kw, channels, multiplier] (int8) and optional bias [channels*multiplier].
   * `int8`: 1 byte per weight (multiplier 1; each call widens them into scratch), else int16 pairs.
   */
  packDepthwiseWeights(weights: Int8Array | number, kh: number, kw: number, channels: number, multiplier = 1,
                       options: {bias?: Int32Array | number; int8?: boolean} = {}): PackedDepthwiseWeights {
    checkInt('kh', kh, 1, 1 << 16);
    checkInt('kw', kw, 1, 1 << 16);
    checkInt('channels', channels, 1, 1 << 24);
    checkInt('multiplier', multiplier, 1, 1 << 16);
    const n = channels * multiplier;
    if (typeof weights !== 'number' && weights.length !== kh * kw * n) {
      throw new Error(`int8 wasm packDepthwiseWeights: ${weights.length} weights given for ` +
        `[${kh}, ${kw}, ${channels}, ${multiplier}]`);
    }
    if (options.bias !== undefined && typeof options.bias !== 'number' && options.bias.length !== n) {
      throw new Error(`int8 wasm packDepthwiseWeights: ${options.bias.length} biases given for ${n} channels`);
    }
    const p = this.packStaged('packDepthwiseWeights', weights, options.bias,
        (w, b) => this.exports.dwPack(w, kh, kw, channels, multiplier, b, options.int8 === true ? 1 : 2));
    return new PackedDepthwiseWeights(this, p, kh, kw, channels, multiplier);
  }

  /**
   * Runs a packer on weights and bias given as wasm pointers or JavaScript arrays:
   * arrays are copied into wasm memory for the call and freed after it.
   */
  private packStaged(kernel: string, weights: Int8Array | number, bias: Int32Array | number | undefined,
                     pack: (weightsPtr: number, biasPtr: number) => number): number {
    const w = typeof weights === 'number' ? weights : this.allocInt8(weights);
    let b = 0;
    let p = 0;
    try {
      b = bias === undefined ? 0 : typeof bias === 'number' ? bias : this.allocInt32(bias);
      p = pack(w, b) >>> 0;
    } finally {
      if (typeof weights !== 'number') this.free(w);
      if (bias !== undefined && typeof bias !== 'number' && b !== 0) this.free(b);
    }
    if (p === 0) throw new Error(`int8 wasm ${kernel}: out of memory`);
    return p;
  }

  /**
   * The filter that `packed` was packed from, as a new JavaScript array `[kh, kw, channels·multiplier]`
   * (the layout packDepthwiseWeights took): lets a caller drop its own copy of the codes.
   */
  unpackDepthwiseWeights(packed: PackedDepthwiseWeights): Int8Array {
    if (packed.ptr === 0) throw new Error('int8 wasm unpackDepthwiseWeights: the packed weights were freed');
    const i32 = this.heapI32();
    const h = packed.ptr >> 2;
    // Header (assembly/depthwise.ts): kh, kw, c, mult, cp, pairs, bias, wsum, data, tag, elemBytes.
    const kh = i32[h], kw = i32[h + 1], c = i32[h + 2], mult = i32[h + 3], pairs = i32[h + 5];
    const data = i32[h + 8], elem = i32[h + 10];
    const taps = kh * kw, n = c * mult;
    const heap8 = this.heapI8();
    if (mult !== 1) return heap8.slice(data, data + taps * n);
    const heap16 = elem === 2 ? new Int16Array(heap8.buffer) : null;
    const out = new Int8Array(taps * n);
    for (let t = 0; t < taps; t++) {
      const pr = t >> 1, odd = t & 1;
      for (let o = 0; o < n; o++) {
        const index = (((o >> 4) * pairs + pr) * 16 + (o & 15)) * 2 + odd;
        out[t * n + o] = heap16 !== null ? heap16[(data >> 1) + index] : heap8[data + index];
      }
    }
    return out;
  }

  /**
   * Writes per-channel (M0, shift) pairs (src/quant quantizeMultiplier) into a new block:
   * n int32 M0, then n int8 shifts (5 bytes a channel), for createRequantTableFromBlock.
   * The caller frees the block.
   */
  allocRequantParams(multiplier: ArrayLike<number>, shift: ArrayLike<number>): number {
    const n = multiplier.length;
    if (shift.length !== n || n === 0) {
      throw new Error(`int8 wasm allocRequantParams: ${n} multipliers and ${shift.length} shifts`);
    }
    for (let i = 0; i < n; i++) {
      checkInt(`multiplier[${i}]`, multiplier[i], 0, 0x7fffffff);
      checkInt(`shift[${i}]`, shift[i], -31, 31);
    }
    const p = this.alloc(n * 5);
    this.heapI32().set(multiplier, p >> 2);
    this.heapI8().set(shift, p + n * 4);
    return p;
  }

  /** The requantization table of n channels from a block of allocRequantParams (no JavaScript copies). */
  createRequantTableFromBlock(block: number, n: number): RequantTable {
    checkInt('n', n, 1, 1 << 24);
    const t = this.exports.requantTableCreate(block, block + n * 4, n, 2) >>> 0;
    if (t === 0) throw new Error('int8 wasm createRequantTable: out of memory');
    return new RequantTable(this, t, n);
  }

  private outParams(o: Int8OutputParams, channels: number): [number, number, number, number] {
    if (o.requant.ptr === 0) throw new Error('int8 wasm: the requantization table was freed');
    if (o.requant.channels < channels) {
      throw new Error(`int8 wasm: the requantization table has ${o.requant.channels} channels, ${channels} needed`);
    }
    const lo = o.lo ?? -128;
    const hi = o.hi ?? 127;
    checkInt('zeroPointOut', o.zeroPointOut, -128, 127);
    checkInt('lo', lo, -128, 127);
    checkInt('hi', hi, lo, 127);
    return [o.requant.ptr, o.zeroPointOut, lo, hi];
  }

  private checkGemmArgs(p: {m: number; zeroPointA: number; weights: PackedGemmWeights; lda?: number; ldc?: number}): void {
    checkInt('m', p.m, 0, 0x7fffffff);
    checkInt('zeroPointA', p.zeroPointA, -128, 127);
    checkInt('lda', p.lda ?? p.weights.k, p.weights.k, 0x7fffffff);
    checkInt('ldc', p.ldc ?? p.weights.n, p.weights.n, 0x7fffffff);
  }

  private checkWeights(w: {ptr: number}): void {
    if (w.ptr === 0) throw new Error('int8 wasm: the packed weights were freed');
  }

  /**
   * out[m, n] (int8, row stride ldc) = clamp(zOut + MBQM(bias[n] + sum_k (A[m, k] - zA) B[k, n])).
   * a: int8 [m, k] with row stride lda (default k).
   */
  gemmInt8(p: {a: number; m: number; zeroPointA: number; weights: PackedGemmWeights; out: number;
    lda?: number; ldc?: number} & Int8OutputParams): void {
    this.checkWeights(p.weights);
    this.checkGemmArgs(p);
    const [t, z, lo, hi] = this.outParams(p, p.weights.n);
    check('gemmInt8', this.exports.gemmI8(p.a, p.lda ?? p.weights.k, p.m, p.zeroPointA, p.weights.ptr,
      t, z, lo, hi, p.out, p.ldc ?? p.weights.n));
  }

  /** out[m, n] (int32, row stride ldc) = bias[n] + sum_k (A[m, k] - zA) B[k, n]. */
  gemmInt32(p: {a: number; m: number; zeroPointA: number; weights: PackedGemmWeights; out: number;
    lda?: number; ldc?: number}): void {
    this.checkWeights(p.weights);
    this.checkGemmArgs(p);
    check('gemmInt32', this.exports.gemmI32(p.a, p.lda ?? p.weights.k, p.m, p.zeroPointA, p.weights.ptr,
      p.out, p.ldc ?? p.weights.n));
  }

  /** gemm with the float epilogue: out (float32, row stride ldc) = act(scale·(bias + Σ (A − zA)·B) + fbias). */
  gemmFloat32(p: {a: number; m: number; zeroPointA: number; weights: PackedGemmWeights; out: number;
    lda?: number; ldc?: number} & FloatOutputParams): {min: number; max: number} {
    this.checkWeights(p.weights);
    this.checkGemmArgs(p);
    this.setFloatOutput(p);
    check('gemmFloat32', this.exports.gemmF32(p.a, p.lda ?? p.weights.k, p.m, p.zeroPointA, p.weights.ptr,
      p.out, p.ldc ?? p.weights.n));
    return this.floatRange(p.rangeOut);
  }

  private setFloatOutput(p: FloatOutputParams): void {
    const act = p.activation === 'linear' ? 0 : p.activation === 'relu' ? 1 : p.activation === 'relu6' ? 2 : -1;
    if (act < 0) throw new Error(`int8 wasm: activation '${String(p.activation)}' has no float epilogue`);
    this.exports.floatEpilogueSet(p.scales, p.bias, act);
  }

  /** [min, max] of the values the last float-epilogue kernel wrote ([Infinity, -Infinity] if none). */
  private floatRange(rangeOut: number): {min: number; max: number} {
    this.exports.floatEpilogueRange(rangeOut);
    const f = this.heapF32();
    return {min: f[rangeOut >> 2], max: f[(rangeOut >> 2) + 1]};
  }

  private convArgs(g: ConvGeometry): number[] {
    const sh = g.strideHeight ?? 1, sw = g.strideWidth ?? 1;
    const dh = g.dilationHeight ?? 1, dw = g.dilationWidth ?? 1;
    for (const [name, v] of Object.entries({batch: g.batch, inHeight: g.inHeight, inWidth: g.inWidth,
      inChannels: g.inChannels, filterHeight: g.filterHeight, filterWidth: g.filterWidth,
      strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw})) {
      checkInt(name, v, 1, 1 << 24);
    }
    checkInt('outHeight', g.outHeight, 0, 1 << 24);
    checkInt('outWidth', g.outWidth, 0, 1 << 24);
    checkInt('padTop', g.padTop ?? 0, -(1 << 24), 1 << 24);
    checkInt('padLeft', g.padLeft ?? 0, -(1 << 24), 1 << 24);
    return [g.batch, g.inHeight, g.inWidth, g.inChannels, g.filterHeight, g.filterWidth, sh, sw, dh, dw,
      g.padTop ?? 0, g.padLeft ?? 0, g.outHeight, g.outWidth];
  }

  /** NHWC convolution with packed [kh*kw*cin, cout] weights, int8 output. Padding reads as zeroPointIn. */
  conv2dInt8(p: ConvGeometry & {input: number; zeroPointIn: number; weights: PackedGemmWeights; out: number}
    & Int8OutputParams): void {
    this.checkWeights(p.weights);
    checkInt('zeroPointIn', p.zeroPointIn, -128, 127);
    const [t, z, lo, hi] = this.outParams(p, p.weights.n);
    const [b, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow] = this.convArgs(p);
    check('conv2dInt8', this.exports.conv2d(p.input, b, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow,
      p.zeroPointIn, p.weights.ptr, t, z, lo, hi, p.out, 0));
  }

  /** NHWC convolution, int32 accumulator output. */
  conv2dInt32(p: ConvGeometry & {input: number; zeroPointIn: number; weights: PackedGemmWeights; out: number}): void {
    this.checkWeights(p.weights);
    checkInt('zeroPointIn', p.zeroPointIn, -128, 127);
    const [b, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow] = this.convArgs(p);
    check('conv2dInt32', this.exports.conv2d(p.input, b, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow,
      p.zeroPointIn, p.weights.ptr, 0, 0, 0, 0, p.out, 1));
  }

  /** NHWC convolution with the float epilogue (float32 output); returns the output's [min, max]. */
  conv2dFloat32(p: ConvGeometry & {input: number; zeroPointIn: number; weights: PackedGemmWeights; out: number}
    & FloatOutputParams): {min: number; max: number} {
    this.checkWeights(p.weights);
    checkInt('zeroPointIn', p.zeroPointIn, -128, 127);
    const [b, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow] = this.convArgs(p);
    this.setFloatOutput(p);
    check('conv2dFloat32', this.exports.conv2d(p.input, b, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow,
      p.zeroPointIn, p.weights.ptr, 0, 0, 0, 0, p.out, 2));
    return this.floatRange(p.rangeOut);
  }

  /** NHWC depthwise convolution with the float epilogue (float32 output); returns the output's [min, max]. */
  depthwiseConv2dFloat32(p: Omit<ConvGeometry, 'filterHeight' | 'filterWidth' | 'inChannels'> & {input: number;
    zeroPointIn: number; weights: PackedDepthwiseWeights; out: number} & FloatOutputParams): {min: number; max: number} {
    this.checkWeights(p.weights);
    checkInt('zeroPointIn', p.zeroPointIn, -128, 127);
    const wt = p.weights;
    const [b, h, w, c, , , sh, sw, dh, dw, pt, pl, oh, ow] = this.convArgs(
      {...p, inChannels: wt.channels, filterHeight: wt.kh, filterWidth: wt.kw});
    this.setFloatOutput(p);
    check('depthwiseConv2dFloat32', this.exports.depthwiseConv2d(p.input, b, h, w, c, wt.ptr, sh, sw, dh, dw,
      pt, pl, oh, ow, p.zeroPointIn, 0, 0, 0, 0, p.out, 2));
    return this.floatRange(p.rangeOut);
  }

  /** NHWC depthwise convolution, int8 output (channels * multiplier output channels). */
  depthwiseConv2dInt8(p: Omit<ConvGeometry, 'filterHeight' | 'filterWidth' | 'inChannels'> & {input: number;
    zeroPointIn: number; weights: PackedDepthwiseWeights; out: number} & Int8OutputParams): void {
    this.checkWeights(p.weights);
    checkInt('zeroPointIn', p.zeroPointIn, -128, 127);
    const wt = p.weights;
    const [t, z, lo, hi] = this.outParams(p, wt.channels * wt.multiplier);
    const [b, h, w, c, , , sh, sw, dh, dw, pt, pl, oh, ow] = this.convArgs(
      {...p, inChannels: wt.channels, filterHeight: wt.kh, filterWidth: wt.kw});
    check('depthwiseConv2dInt8', this.exports.depthwiseConv2d(p.input, b, h, w, c, wt.ptr, sh, sw, dh, dw,
      pt, pl, oh, ow, p.zeroPointIn, t, z, lo, hi, p.out, 0));
  }

  /** NHWC depthwise convolution, int32 accumulator output. */
  depthwiseConv2dInt32(p: Omit<ConvGeometry, 'filterHeight' | 'filterWidth' | 'inChannels'> & {input: number;
    zeroPointIn: number; weights: PackedDepthwiseWeights; out: number}): void {
    this.checkWeights(p.weights);
    checkInt('zeroPointIn', p.zeroPointIn, -128, 127);
    const wt = p.weights;
    const [b, h, w, c, , , sh, sw, dh, dw, pt, pl, oh, ow] = this.convArgs(
      {...p, inChannels: wt.channels, filterHeight: wt.kh, filterWidth: wt.kw});
    check('depthwiseConv2dInt32', this.exports.depthwiseConv2d(p.input, b, h, w, c, wt.ptr, sh, sw, dh, dw,
      pt, pl, oh, ow, p.zeroPointIn, 0, 0, 0, 0, p.out, 1));
  }

  /**
   * dst[i] = clamp(roundHalfAwayFromZero(src[i] / scale) + zeroPoint, -128, 127)
   * (float32 src, int8 dst; as src/quant quantizeValues). Throws on NaN input.
   */
  quantize(src: number, n: number, scale: number, zeroPoint: number, dst: number): void {
    if (!(scale > 0) || !Number.isFinite(scale)) throw new Error(`int8 wasm quantize: scale ${scale} is not positive`);
    checkInt('zeroPoint', zeroPoint, -128, 127);
    const nans = this.exports.quantizeF32ToI8(src, n, scale, zeroPoint, dst);
    if (nans !== 0) throw new Error(`int8 wasm quantize: ${nans} NaN value(s) cannot be quantized`);
  }

  /** dst[i] = float32(scale * (src[i] - zeroPoint)) (int8 src, float32 dst; as src/quant dequantizeValues). */
  dequantize(src: number, n: number, scale: number, zeroPoint: number, dst: number): void {
    this.exports.dequantizeI8ToF32(src, n, scale, zeroPoint, dst);
  }

  /**
   * [min, max] of n float32 values at src (NaN values are skipped and counted);
   * n == 0 gives [Infinity, -Infinity].
   */
  range(src: number, n: number): {min: number; max: number; nanCount: number} {
    const out = this.alloc(8);
    const nanCount = this.exports.rangeF32(src, n, out);
    const f = this.heapF32();
    const r = {min: f[out >> 2], max: f[(out >> 2) + 1], nanCount};
    this.free(out);
    return r;
  }

  /**
   * Overwrites the int32 bias stored inside packed weights (the packing keeps it
   * next to the weights): `bias` (one value per output channel), or zeros for null.
   */
  setPackedBias(weights: PackedGemmWeights | PackedDepthwiseWeights, bias: Int32Array | null): void {
    this.checkWeights(weights);
    const gemm = weights instanceof PackedGemmWeights;
    const n = gemm ? weights.n : weights.channels * weights.multiplier;
    const p = (gemm ? this.exports.gemmBiasPtr(weights.ptr) : this.exports.dwBiasPtr(weights.ptr)) >>> 0;
    if (p === 0) throw new Error('int8 wasm setPackedBias: the packed weights are not of their kind (or were freed)');
    if (bias !== null && bias.length !== n) {
      throw new Error(`int8 wasm setPackedBias: ${bias.length} biases given for ${n} channels`);
    }
    const heap = this.heapI32();
    if (bias === null) heap.fill(0, p >> 2, (p >> 2) + n); else heap.set(bias, p >> 2);
  }

  /**
   * The dynamic mode's float epilogue on int32 accumulators [rows, channels] at src:
   * dst = act(float32(scale[c]·q) + bias[c]) with scales a float64[channels] block,
   * bias a float32[channels] block (0 = none), act 'linear' | 'relu' | 'relu6'.
   * dst may be src (in place). No allocation.
   */
  dequantizeInt32Epilogue(src: number, rows: number, channels: number, scalesPtr: number, biasPtr: number,
                          act: 'linear' | 'relu' | 'relu6', dst: number): void {
    checkInt('rows', rows, 0, 0x7fffffff);
    checkInt('channels', channels, 1, 0x7fffffff);
    this.exports.dequantizeI32Epilogue(src, rows, channels, scalesPtr, biasPtr,
      act === 'linear' ? 0 : act === 'relu' ? 1 : 2, dst);
  }

  /** dst [cols, rows] = transpose of the int8 matrix src [rows, cols]. No allocation. */
  transposeInt8(src: number, rows: number, cols: number, dst: number): void {
    checkInt('rows', rows, 0, 0x7fffffff);
    checkInt('cols', cols, 0, 0x7fffffff);
    this.exports.transposeI8(src, rows, cols, dst);
  }

  /** dst [pixels, c·m] = each int8 channel of src [pixels, c] repeated m times (c·m·pixels bytes). No allocation. */
  repeatChannelsInt8(src: number, pixels: number, c: number, m: number, dst: number): void {
    checkInt('pixels', pixels, 0, 0x7fffffff);
    checkInt('c', c, 1, 0x7fffffff);
    checkInt('m', m, 1, 0x7fffffff);
    this.exports.repeatChannelsI8(src, pixels, c, m, dst);
  }

  /**
   * TFLite's int8 Add of n codes at a and b into out (equal shapes, per tensor; the
   * parameters of src/quant prepareQuantizedAdd, every shift <= 0), clamped to [lo, hi].
   */
  addInt8(a: number, b: number, out: number, n: number, p: {
    input1ZeroPoint: number; input1Multiplier: number; input1Shift: number; input2ZeroPoint: number;
    input2Multiplier: number; input2Shift: number; outputZeroPoint: number; outputMultiplier: number;
    outputShift: number;
  }, lo: number, hi: number): void {
    checkInt('n', n, 0, 0x7fffffff);
    checkInt('input1ZeroPoint', p.input1ZeroPoint, -128, 127);
    checkInt('input2ZeroPoint', p.input2ZeroPoint, -128, 127);
    checkInt('outputZeroPoint', p.outputZeroPoint, -128, 127);
    checkInt('input1Multiplier', p.input1Multiplier, 0, 0x7fffffff);
    checkInt('input2Multiplier', p.input2Multiplier, 0, 0x7fffffff);
    checkInt('outputMultiplier', p.outputMultiplier, 0, 0x7fffffff);
    checkInt('lo', lo, -128, 127);
    checkInt('hi', hi, -128, 127);
    const rc = this.exports.addI8(a, b, out, n, p.input1ZeroPoint, p.input1Multiplier, p.input1Shift,
                                  p.input2ZeroPoint, p.input2Multiplier, p.input2Shift, p.outputZeroPoint,
                                  p.outputMultiplier, p.outputShift, lo, hi);
    if (rc !== 0) throw new Error(`int8 wasm addInt8: shifts out of range (${p.input1Shift}, ${p.input2Shift}, ${p.outputShift})`);
  }

  /**
   * Fills dstLen bytes at dst with `fill`, then copies `rows` runs of `run` bytes from
   * src (contiguous) to dst + offsets[r] (int32 array at `offsets` in wasm memory).
   */
  padRows(src: number, rows: number, run: number, offsets: number, dst: number, dstLen: number, fill: number): void {
    checkInt('rows', rows, 0, 0x7fffffff);
    checkInt('run', run, 0, 0x7fffffff);
    checkInt('dstLen', dstLen, 0, 0x7fffffff);
    checkInt('fill', fill, -128, 127);
    this.exports.padRowsI8(src, rows, run, offsets, dst, dstLen, fill);
  }

  /**
   * The integer prelu epilogue (assembly/prelu.ts): int8 `dst` [rows, channels] from int32
   * accumulators `src`, requantized with `positive` where acc ≥ 0 and with `negative` times
   * sign[c] (−1, 0, 1: the sign of alpha[c]) where acc < 0, then clamped to [lo, hi].
   */
  preluInt32ToInt8(src: number, rows: number, channels: number, positive: RequantTable, negative: RequantTable,
                   sign: ArrayLike<number>, zeroPointOut: number, lo: number, hi: number, dst: number): void {
    checkInt('rows', rows, 0, 0x7fffffff);
    checkInt('channels', channels, 1, 0x7fffffff);
    if (positive.channels !== channels || negative.channels !== channels || sign.length !== channels) {
      throw new Error(`int8 wasm preluInt32ToInt8: tables of ${positive.channels} and ${negative.channels} channels ` +
        `and ${sign.length} signs for ${channels} channels`);
    }
    for (let c = 0; c < channels; c++) checkInt(`sign[${c}]`, sign[c], -1, 1);
    checkInt('zeroPointOut', zeroPointOut, -128, 127);
    checkInt('lo', lo, -128, 127);
    checkInt('hi', hi, lo, 127);
    const signs = this.allocInt32(sign);
    try {
      this.exports.preluI32ToI8(src, rows, channels, positive.ptr, negative.ptr, signs, zeroPointOut, lo, hi, dst);
    } finally {
      this.free(signs);
    }
  }

  /**
   * range() writing its two float32 results into `scratch` (8 bytes from alloc)
   * instead of a block allocated per call.
   */
  rangeInto(src: number, n: number, scratch: number): {min: number; max: number; nanCount: number} {
    const nanCount = this.exports.rangeF32(src, n, scratch);
    const f = this.heapF32();
    return {min: f[scratch >> 2], max: f[(scratch >> 2) + 1], nanCount};
  }

  /** dst[r, c] = float32(scales[c] * src[r, c]) for int32 accumulators [rows, channels]. */
  dequantizeInt32PerChannel(src: number, rows: number, channels: number, scales: ArrayLike<number>, dst: number): void {
    if (scales.length !== channels) {
      throw new Error(`int8 wasm dequantizeInt32PerChannel: ${scales.length} scales for ${channels} channels`);
    }
    const s = this.alloc(channels * 8);
    this.heapF64().set(scales, s >> 3);
    this.exports.dequantizeI32ToF32PerChannel(src, rows, channels, s, dst);
    this.free(s);
  }
}

/**
 * Quantized codes resident in WebAssembly memory (the backend's CodeStore).
 * `codes()` returns a fresh view each call: use it right away, never keep it.
 */
export class WasmCodeStore implements CodeStore {
  private ptrValue: number;

  private constructor(private readonly wasm: Int8Wasm, readonly dtype: CodeDtype, readonly length: number,
                      ptr: number) {
    this.ptrValue = ptr;
  }

  /** Zero-filled storage for `length` codes. */
  static allocate(wasm: Int8Wasm, dtype: CodeDtype, length: number): WasmCodeStore {
    checkInt('length', length, 0, 0x3fffffff);
    const ptr = dtype === 'int8' ? wasm.allocInt8(length) : wasm.allocInt32(length);
    return new WasmCodeStore(wasm, dtype, length, ptr);
  }

  /** A copy of `codes` in wasm memory. */
  static fromCodes(wasm: Int8Wasm, codes: Int8Array | Int32Array): WasmCodeStore {
    const dtype: CodeDtype = codes instanceof Int8Array ? 'int8' : 'int32';
    const ptr = dtype === 'int8' ? wasm.allocInt8(codes) : wasm.allocInt32(codes);
    return new WasmCodeStore(wasm, dtype, codes.length, ptr);
  }

  /** Takes ownership of a block from `wasm.alloc` holding `length` codes (e.g. a kernel's output). */
  static adopt(wasm: Int8Wasm, dtype: CodeDtype, length: number, ptr: number): WasmCodeStore {
    checkInt('length', length, 0, 0x3fffffff);
    if (ptr === 0 || ptr % 16 !== 0) throw new Error(`int8 wasm WasmCodeStore.adopt: ${ptr} is not a block from alloc`);
    return new WasmCodeStore(wasm, dtype, length, ptr);
  }

  /** Whether the codes live in the memory of `wasm` (then kernels of `wasm` may read `ptr`). */
  isIn(wasm: Int8Wasm): boolean {
    return this.wasm === wasm;
  }

  /** Byte address of the codes in wasm memory (for kernels). */
  get ptr(): number {
    if (this.ptrValue === 0) throw new Error('Quantized codes were read after they were freed.');
    return this.ptrValue;
  }

  codes(): Int8Array | Int32Array {
    const p = this.ptr;
    return this.dtype === 'int8'
      ? new Int8Array(this.wasm.memory.buffer, p, this.length)
      : new Int32Array(this.wasm.memory.buffer, p, this.length);
  }

  free(): void {
    if (this.ptrValue !== 0) this.wasm.free(this.ptrValue);
    this.ptrValue = 0;
  }
}
