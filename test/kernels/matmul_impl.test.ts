// The pure integer matmul (kernels/impl/matmul_int8.ts) against the unfolded
// spec Σ_k (qA − zA)(qB − zB) + bias32 in BigInt, wrapped to int32, over
// random shapes, transposes, batch broadcasts and zero points — the
// bit-exactness test a WebAssembly GEMM must also pass.
import {describe, expect, it} from 'vitest';

import {matMulInt8} from '../../kernels/impl/matmul_int8';
import type {MatMulGeometry} from '../../kernels/impl/matmul_int8';
import {foldZeroPoints, weightChannelSums} from '../../kernels/impl/zero_point_fold';
import {randomCodes, rngFor} from './conv_matmul_helpers';

function matMulSpec(a: Int8Array, zA: number, b: Int8Array, zB: number, bias: Int32Array | null,
                    g: MatMulGeometry): Int32Array {
  const out = new Int32Array(g.batch * g.m * g.n);
  for (let bi = 0; bi < g.batch; bi++) {
    const aBase = (bi % g.batchA) * g.m * g.k;
    const bBase = (bi % g.batchB) * g.k * g.n;
    for (let i = 0; i < g.m; i++) {
      for (let j = 0; j < g.n; j++) {
        let acc = BigInt(bias === null ? 0 : bias[j]);
        for (let k = 0; k < g.k; k++) {
          const qa = a[aBase + (g.transposeA ? k * g.m + i : i * g.k + k)];
          const qb = b[bBase + (g.transposeB ? j * g.k + k : k * g.n + j)];
          acc += BigInt(qa - zA) * BigInt(qb - zB);
        }
        out[(bi * g.m + i) * g.n + j] = Number(BigInt.asIntN(32, acc));
      }
    }
  }
  return out;
}

function runFolded(a: Int8Array, zA: number, b: Int8Array, zB: number, bias: Int32Array | null,
                   g: MatMulGeometry): Int32Array {
  const sums = weightChannelSums(b, g.batchB, g.transposeB ? g.k : 1, g.n);
  const columnBias = foldZeroPoints(bias, sums, zA, zB, g.k, g.n);
  const out = new Int32Array(g.batch * g.m * g.n);
  matMulInt8(a, b, zB, columnBias, g, out);
  return out;
}

describe('matMulInt8 equals the unfolded spec bit for bit', () => {
  it('400 random shapes, transposes, batch broadcasts, zero points', () => {
    const rng = rngFor(20);
    for (let t = 0; t < 400; t++) {
      const batch = rng.intIn(1, 3);
      const batchA = rng.pick([1, batch]);
      const batchB = batchA === 1 ? batch : rng.pick([1, batch]);
      const g: MatMulGeometry = {
        batch, batchA, batchB, m: rng.intIn(1, 7), k: rng.intIn(1, 40), n: rng.intIn(1, 9),
        transposeA: rng.bool(), transposeB: rng.bool(),
      };
      const a = randomCodes(rng, batchA * g.m * g.k);
      const b = randomCodes(rng, batchB * g.k * g.n);
      const zA = rng.pick([-128, 127, 0, rng.intIn(-128, 127)]);
      const zB = rng.pick([0, 0, -128, rng.intIn(-128, 127)]);
      const bias = rng.bool() ? Int32Array.from({length: g.n}, () => rng.intIn(-1e6, 1e6)) : null;
      expect(Array.from(runFolded(a, zA, b, zB, bias, g)), JSON.stringify(g))
          .toEqual(Array.from(matMulSpec(a, zA, b, zB, bias, g)));
    }
  });

  it('wraps like int32 on overflow', () => {
    const k = 140_000;
    const g: MatMulGeometry = {batch: 1, batchA: 1, batchB: 1, m: 1, k, n: 1, transposeA: false, transposeB: true};
    const a = new Int8Array(k).fill(127);
    const b = new Int8Array(k).fill(-128);
    const got = runFolded(a, -128, b, 127, Int32Array.of(7), g);
    expect(Array.from(got)).toEqual(Array.from(matMulSpec(a, -128, b, 127, Int32Array.of(7), g)));
  });
});
