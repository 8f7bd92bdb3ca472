// The wasm allocator, memory growth and view re-derivation; the loaders; WasmCodeStore.
import {readFileSync} from 'node:fs';

import {beforeEach, describe, expect, it} from 'vitest';

import {
  Int8Wasm, WasmCodeStore, int8WasmBytes, loadInt8Wasm, loadInt8WasmSync, sharedInt8Wasm, simdSupported,
} from '../../kernels/wasm/loader';
import {makeRng} from './wasm_test_utils';

let wasm: Int8Wasm;
beforeEach(() => {
  wasm = loadInt8WasmSync()!; // a fresh instance (own memory) per test
});

describe('loader', () => {
  it('detects SIMD and loads synchronously and asynchronously', async () => {
    expect(simdSupported()).toBe(true);
    const a = await loadInt8Wasm();
    expect(a).not.toBeNull();
    expect(a!.memory.buffer.byteLength).toBeGreaterThan(0);
    expect(sharedInt8Wasm()).toBe(sharedInt8Wasm());
  });

  it('embeds the same bytes as build/wasm/int8.wasm', () => {
    const file = readFileSync(new URL('../../build/wasm/int8.wasm', import.meta.url));
    expect(Buffer.from(int8WasmBytes()).equals(file)).toBe(true);
  });

  it('the module imports nothing and exports a growable memory', () => {
    const module = new WebAssembly.Module(int8WasmBytes());
    expect(WebAssembly.Module.imports(module)).toEqual([]);
    const before = wasm.memory.buffer.byteLength;
    wasm.memory.grow(1);
    expect(wasm.memory.buffer.byteLength).toBe(before + 65536);
  });
});

describe('allocator', () => {
  it('returns 16-byte aligned, non-overlapping blocks and reuses freed ones', () => {
    const rng = makeRng(11);
    const live = new Map<number, {size: number; fill: number}>();
    for (let step = 0; step < 3000; step++) {
      if (live.size > 0 && rng.next() < 0.45) {
        const keys = Array.from(live.keys());
        const p = keys[rng.int(0, keys.length - 1)];
        const {size, fill} = live.get(p)!;
        // Contents survived every other allocation, free and growth.
        const heap = wasm.heapU8();
        for (let j = 0; j < 64 && size > 0; j++) {
          const at = j === 0 ? p : j === 1 ? p + size - 1 : p + rng.int(0, size - 1);
          if (heap[at] !== fill) expect(`byte ${at - p} of block ${p}: ${heap[at]}`).toBe(`fill ${fill}`);
        }
        wasm.free(p);
        live.delete(p);
      } else {
        const size = rng.next() < 0.05 ? rng.int(100000, 400000) : rng.int(0, 3000);
        const p = wasm.alloc(size);
        expect(p % 16).toBe(0);
        for (const [q, b] of live) {
          if (!(p + size <= q || q + b.size <= p)) expect(`[${p}, +${size}) overlaps [${q}, +${b.size})`).toBe('');
        }
        const fill = rng.int(1, 255);
        wasm.heapU8().fill(fill, p, p + size);
        live.set(p, {size, fill});
      }
    }
    for (const p of live.keys()) wasm.free(p);
    expect(wasm.allocatedBytes()).toBe(0);
    // Everything coalesced back into the bump region.
    expect(wasm.exports.freeBlockCount()).toBe(0);
  });

  it('coalesces neighbours and reuses the space', () => {
    const a = wasm.alloc(1000), b = wasm.alloc(1000), c = wasm.alloc(1000), guard = wasm.alloc(16);
    wasm.free(a); wasm.free(c); wasm.free(b);
    expect(wasm.exports.freeBlockCount()).toBe(1);
    const big = wasm.alloc(3000); // fits in a+b+c with their headers
    expect(big).toBe(a);
    wasm.free(big); wasm.free(guard);
    expect(wasm.exports.freeBlockCount()).toBe(0);
    expect(wasm.exports.heapEnd()).toBe(a - 16);
  });

  it('rejects double and foreign frees', () => {
    const p = wasm.alloc(64);
    wasm.free(p);
    expect(() => wasm.free(p)).toThrow(/not a live block/);
    expect(() => wasm.free(p + 4)).toThrow(/not a live block/);
    expect(() => wasm.free(12345680)).toThrow(/not a live block/);
    wasm.free(0); // ignored
  });

  it('grows memory; views are re-derived and stale views are detected', () => {
    const p = wasm.allocInt8([1, 2, 3]);
    const oldView = wasm.heapI8();
    const before = wasm.memory.buffer.byteLength;
    const big = wasm.alloc(8 << 20); // forces growth
    expect(wasm.memory.buffer.byteLength).toBeGreaterThan(before);
    expect(oldView.byteLength).toBe(0); // the old buffer is detached
    expect(Array.from(wasm.heapI8().subarray(p, p + 3))).toEqual([1, 2, 3]);
    wasm.free(big);
    wasm.free(p);
  });

  it('kernels that allocate scratch may grow memory; outputs read afterwards are correct', () => {
    // A large GEMM with a tiny initial heap: its scratch allocation grows memory.
    const k = 4096, n = 4, m = 64;
    const w = wasm.packGemmWeights(new Int8Array(k * n).fill(1), k, n);
    const a = wasm.allocInt8(new Int8Array(m * k).fill(2));
    const out = wasm.allocInt32(m * n);
    const store = WasmCodeStore.allocate(wasm, 'int32', m * n);
    const viewBefore = store.codes();
    // Fill the heap up to its current end so that the kernel's scratch must grow memory.
    // (header 16 bytes, guard 64 bytes above the heap end, and a little margin)
    const free = wasm.memory.buffer.byteLength - wasm.exports.heapEnd() - 16 - 64 - 16;
    const filler = free > 0 ? wasm.alloc(free) : 0;
    const bytesBefore = wasm.memory.buffer.byteLength;
    wasm.gemmInt32({a, m, zeroPointA: 0, weights: w, out: store.ptr});
    expect(wasm.memory.buffer.byteLength).toBeGreaterThan(bytesBefore);
    expect(viewBefore.length).toBe(0); // detached
    const codes = store.codes(); // fresh view
    expect(codes.length).toBe(m * n);
    expect(Array.from(codes).every((v) => v === 2 * k)).toBe(true);
    wasm.free(filler); wasm.free(a); wasm.free(out); w.free(); store.free();
  });

  it('throws when memory cannot grow (wasm32: 4 GiB at most)', () => {
    const a = wasm.alloc(0x7fffffff); // reserved, never touched
    expect(() => wasm.alloc(0x7fffffff)).toThrow(/out of memory/);
    wasm.free(a);
  });
});

describe('WasmCodeStore', () => {
  it('holds int8 and int32 codes with fresh views, and frees them', () => {
    const s8 = WasmCodeStore.fromCodes(wasm, new Int8Array([-128, 0, 127, 5]));
    const s32 = WasmCodeStore.fromCodes(wasm, new Int32Array([-(2 ** 31), 2 ** 31 - 1, 7]));
    expect(s8.dtype).toBe('int8');
    expect(s8.length).toBe(4);
    expect(s32.dtype).toBe('int32');
    expect(Array.from(s8.codes())).toEqual([-128, 0, 127, 5]);
    expect(Array.from(s32.codes())).toEqual([-(2 ** 31), 2 ** 31 - 1, 7]);
    expect(s8.codes()).not.toBe(s8.codes());
    const big = wasm.alloc(16 << 20);
    expect(Array.from(s32.codes())).toEqual([-(2 ** 31), 2 ** 31 - 1, 7]);
    wasm.free(big);
    const used = wasm.allocatedBytes();
    s8.free();
    s8.free(); // idempotent
    expect(wasm.allocatedBytes()).toBeLessThan(used);
    expect(() => s8.codes()).toThrow(/freed/);
    s32.free();
    expect(wasm.allocatedBytes()).toBe(0);
  });

  it('adopts a kernel output block', () => {
    const out = wasm.allocInt8(5);
    wasm.heapI8().set([1, -2, 3, -4, 5], out);
    const s = WasmCodeStore.adopt(wasm, 'int8', 5, out);
    expect(s.ptr).toBe(out);
    expect(Array.from(s.codes())).toEqual([1, -2, 3, -4, 5]);
    s.free();
    expect(wasm.allocatedBytes()).toBe(0);
    expect(() => WasmCodeStore.adopt(wasm, 'int8', 5, 0)).toThrow(/not a block/);
  });
});
