// The benchmark's output: a table for people, one JSON object for programs.

import {basename} from 'node:path';

import type {BackendResult, BenchResult} from './harness';
import {formatBytes, formatMacs, formatMs, formatRatio, renderTable} from './format';
import type {ResidentBytes} from './memory';

/** Bytes in MiB without the unit, for the parts of a breakdown. */
function mib(bytes: number): string {
  const value = bytes / (1024 * 1024);
  return value >= 1 ? value.toFixed(1) : value.toFixed(2);
}

/** "17.6 MiB = f32 10.0 + js 2.6 + wasm 5.0" for int8, just the total for a float backend. */
export function describeResident(bytes: ResidentBytes): string {
  const parts: string[] = [];
  if (bytes.floatBytes > 0 && (bytes.derivedBytes > 0 || bytes.wasmBytes > 0)) parts.push(`f32 ${mib(bytes.floatBytes)}`);
  if (bytes.derivedBytes > 0) parts.push(`js ${mib(bytes.derivedBytes)}`);
  if (bytes.wasmBytes > 0) parts.push(`wasm ${mib(bytes.wasmBytes)}`);
  return parts.length === 0 ? formatBytes(bytes.total) : `${formatBytes(bytes.total)} = ${parts.join(' + ')}`;
}

function speedup(reference: BackendResult | undefined, result: BackendResult): string {
  if (reference === undefined) return '-';
  return formatRatio(reference.medianMs / result.medianMs);
}

/** The human-readable report of one model's benchmark. */
export function formatBenchTable(result: BenchResult): string {
  const {macs} = result;
  const cpu = result.results.find(r => r.backend === 'cpu');
  const wasm = result.results.find(r => r.backend === 'wasm');
  const title = `${result.modelName ?? result.model}: ${formatMacs(macs.total)}MAC per inference ` +
    `(conv ${formatMacs(macs.byFamily.conv)}, depthwise ${formatMacs(macs.byFamily.depthwise)}, matmul ${formatMacs(macs.byFamily.matmul)}); ` +
    `input [${result.input.shape.join(', ')}] ${result.input.dtype} ${result.input.dtype === 'int32' ? result.input.range : `[${result.input.range}]`} from ${basename(result.input.image)}`;
  const header = ['backend', 'median ms', 'min ms', 'max ms', 'runs', 'GMAC/s', 'vs wasm', 'vs cpu', 'weights resident', 'load ms', '1st run ms'];
  const rows: string[][] = result.results.map(r => [
    r.backend, formatMs(r.medianMs), formatMs(r.minMs), formatMs(r.maxMs), String(r.runs), r.gmacPerS.toFixed(2),
    speedup(wasm, r), speedup(cpu, r), describeResident(r.weightBytes), formatMs(r.loadMs), formatMs(r.firstRunMs),
  ]);
  for (const missing of result.unavailable) rows.push([`${missing.backend.padEnd(12)}  unavailable: ${missing.reason}`]);
  const notes: string[] = ['vs wasm / vs cpu: speed-up over that backend (its median ÷ this median; above 1× is faster).'];
  if (result.int8Kernels !== undefined) {
    const d = result.int8Kernels.wasmDispatches;
    notes.push(`int8 kernels: ${result.int8Kernels.active === 'wasm' ? 'WebAssembly SIMD' : 'TypeScript reference'}` +
      ` (wasm dispatches in the timed runs: conv ${d.conv2d}, depthwise ${d.depthwise}, matmul ${d.matmul}).`);
  }
  notes.push('weights resident: float backends hold float32 weights; int8 = float values it still holds (f32) + codes and tables ' +
    'derived from the weights in JavaScript (js) + int8 WebAssembly heap growth (wasm).');
  return [title, renderTable(header, rows, ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left']), ...notes].join('\n');
}

/**
 * The JSON object of one benchmark: {model, input, results: [{backend, medianMs, minMs, maxMs,
 * runs, gmacPerS, ...}], ...}. Times are rounded to microseconds, GMAC/s to 4 significant digits.
 */
export function benchJson(result: BenchResult): object {
  const round = (ms: number): number => Math.round(ms * 1000) / 1000;
  return {
    model: result.model,
    ...(result.modelName !== undefined ? {modelName: result.modelName} : {}),
    ...(result.quantizedModel !== undefined ? {quantizedModel: result.quantizedModel} : {}),
    input: result.input,
    results: result.results.map(r => ({
      backend: r.backend,
      medianMs: round(r.medianMs),
      minMs: round(r.minMs),
      maxMs: round(r.maxMs),
      runs: r.runs,
      gmacPerS: Number(r.gmacPerS.toPrecision(4)),
      loadMs: round(r.loadMs),
      firstRunMs: round(r.firstRunMs),
      weightBytes: r.weightBytes,
    })),
    macs: result.macs,
    ...(result.int8Kernels !== undefined ? {int8Kernels: result.int8Kernels} : {}),
    unavailable: result.unavailable,
  };
}
