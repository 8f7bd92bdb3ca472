import {describe, expect, it} from 'vitest';

import {
  dequantizeValues,
  quantizeValues,
  quantizeWeightsPerChannel,
  validateQuantizationParams,
} from '../../src/quant';
import type {QuantizationParams} from '../../src/quant';
import {makeRng} from './reference_model';

describe('quantizeValues / dequantizeValues per tensor', () => {
  it('rounds half away from zero, adds the zero point, clamps to the dtype', () => {
    const params: QuantizationParams = {scale: [0.5], zeroPoint: [3]};
    const codes = quantizeValues([1.25, -1.25, 0, 0.2, -0.3, 1000, -1000, Infinity], [8], params, 'int8');
    expect(codes).toBeInstanceOf(Int8Array);
    expect(Array.from(codes)).toEqual([6, 0, 3, 3, 2, 127, -128, 127]);
    const wide = quantizeValues([1e12, -1e12, 2.5], [3], {scale: [1], zeroPoint: [0]}, 'int32');
    expect(wide).toBeInstanceOf(Int32Array);
    expect(Array.from(wide)).toEqual([2147483647, -2147483648, 3]);
  });

  it('dequantizes r = S·(q − Z) as float32', () => {
    const values = dequantizeValues(Int8Array.from([-128, 0, 3, 127]), [2, 2], {scale: [0.1], zeroPoint: [3]});
    expect(values).toBeInstanceOf(Float32Array);
    expect(Array.from(values)).toEqual([-13.1, -0.3, 0, 12.4].map(Math.fround));
  });

  it('round trip error ≤ S/2 for values inside the representable range', () => {
    const rng = makeRng(31);
    for (let trial = 0; trial < 50; trial++) {
      const scale = rng.logUniform(1e-4, 10);
      const zeroPoint = rng.intIn(-128, 127);
      const lo = scale * (-128 - zeroPoint);
      const hi = scale * (127 - zeroPoint);
      const values = Array.from({length: 200}, () => rng.floatIn(lo, hi));
      const params = {scale: [scale], zeroPoint: [zeroPoint]};
      const back = dequantizeValues(quantizeValues(values, [200], params, 'int8'), [200], params);
      for (let i = 0; i < values.length; i++) {
        // + float32 storage error of the dequantized value.
        expect(Math.abs(back[i] - values[i])).toBeLessThanOrEqual(scale / 2 + Math.abs(values[i]) * 2 ** -23);
      }
    }
  });

  it('throws on NaN naming the tensor and index', () => {
    expect(() => quantizeValues([0, Number.NaN], [2], {scale: [1], zeroPoint: [0]}, 'int8', 'conv1/input')).toThrow(
      /'conv1\/input'.*index 1/,
    );
  });
});

describe('per-channel along axis', () => {
  it('axis 0, 1 and last of a [2, 3, 2] tensor use the right channel for every element', () => {
    const shape = [2, 3, 2];
    const values = Array.from({length: 12}, (_, i) => i + 1);
    for (const axis of [0, 1, 2]) {
      const channels = shape[axis];
      const scale = Array.from({length: channels}, (_, c) => 0.5 * (c + 1));
      const zeroPoint = Array.from({length: channels}, (_, c) => -c);
      const params = {scale, zeroPoint, axis};
      const codes = quantizeValues(values, shape, params, 'int8');
      const back = dequantizeValues(codes, shape, params);
      const strides = [6, 2, 1];
      for (let i = 0; i < 12; i++) {
        const c = Math.floor(i / strides[axis]) % channels;
        const expected = Math.round(values[i] / scale[c]) + zeroPoint[c];
        expect(codes[i]).toBe(expected);
        expect(back[i]).toBeCloseTo(scale[c] * (expected - zeroPoint[c]), 6);
      }
    }
  });
});

describe('quantizeWeightsPerChannel', () => {
  it('symmetric narrow range per output channel; all-zero channel gets scale 1', () => {
    // HWIO-like [2, 3] with output channels on axis 1.
    const values = [0.5, 0, -2, -1, 0, 1];
    const {codes, scale} = quantizeWeightsPerChannel(values, [2, 3], 1);
    expect(scale).toEqual([1 / 127, 1, 2 / 127]);
    expect(Array.from(codes)).toEqual([64, 0, -127, -127, 0, 64]);
  });

  it('max |w| maps to ±127 and error ≤ S/2 on random weights, axis 0 and last', () => {
    const rng = makeRng(37);
    for (const [shape, axis] of [
      [[8, 3, 3, 4], 0],
      [[3, 3, 4, 8], 3],
    ] as const) {
      const size = shape.reduce((a, b) => a * b, 1);
      const values = Array.from({length: size}, () => rng.floatIn(-1, 1) * 10 ** rng.intIn(-3, 0));
      const {codes, scale} = quantizeWeightsPerChannel(values, [...shape], axis);
      expect(scale).toHaveLength(shape[axis]);
      const strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
      const maxCode = new Array<number>(shape[axis]).fill(0);
      for (let i = 0; i < size; i++) {
        const c = Math.floor(i / strides[axis]) % shape[axis];
        expect(codes[i]).toBeGreaterThanOrEqual(-127);
        expect(Math.abs(codes[i] * scale[c] - values[i])).toBeLessThanOrEqual(scale[c] / 2 + 1e-12);
        maxCode[c] = Math.max(maxCode[c], Math.abs(codes[i]));
      }
      expect(maxCode.every((m) => m === 127)).toBe(true);
    }
  });

  it('rejects a bad axis, a length mismatch and non-finite weights, naming the tensor', () => {
    expect(() => quantizeWeightsPerChannel([1, 2], [2], 1, 'fc/kernel')).toThrow(/'fc\/kernel'.*axis 1/);
    expect(() => quantizeWeightsPerChannel([1, 2, 3], [2, 2], 0, 'fc/kernel')).toThrow(/'fc\/kernel'.*3 values/);
    expect(() => quantizeWeightsPerChannel([1, Infinity], [2], 0, 'fc/kernel')).toThrow(/'fc\/kernel'.*index 1/);
  });
});

describe('validateQuantizationParams: every error names the tensor and the bad value', () => {
  const name = 'block3/conv/weights';
  const check = (params: QuantizationParams, shape: number[], dtype: 'int8' | 'int32' = 'int8') => () =>
    validateQuantizationParams(params, shape, dtype, name);
  const named = (detail: RegExp) => new RegExp(`'${name.replace(/\//g, '\\/')}'.*${detail.source}`);

  it('accepts good per-tensor and per-channel params', () => {
    expect(check({scale: [0.1], zeroPoint: [-5]}, [2, 3])).not.toThrow();
    expect(check({scale: [0.1, 0.2, 0.3], zeroPoint: [0, 0, 0], axis: 1}, [2, 3])).not.toThrow();
    expect(check({scale: [1], zeroPoint: [100000]}, [4], 'int32')).not.toThrow();
  });

  it('per-channel axis out of range', () => {
    expect(check({scale: [1, 1], zeroPoint: [0, 0], axis: 2}, [2, 3])).toThrow(named(/axis 2 is out of range/));
    expect(check({scale: [1, 1], zeroPoint: [0, 0], axis: -1}, [2, 3])).toThrow(named(/axis -1/));
    expect(check({scale: [1, 1], zeroPoint: [0, 0], axis: 0.5}, [2, 3])).toThrow(named(/axis 0.5/));
  });

  it('per-channel length ≠ shape[axis], per-tensor length ≠ 1', () => {
    expect(check({scale: [1, 1], zeroPoint: [0, 0], axis: 1}, [2, 3])).toThrow(named(/2 scales.*3 expected/));
    expect(check({scale: [1, 1], zeroPoint: [0, 0]}, [2, 3])).toThrow(named(/2 scales.*1 expected per tensor/));
  });

  it('scale/zeroPoint length mismatch', () => {
    expect(check({scale: [1, 1], zeroPoint: [0], axis: 0}, [2])).toThrow(named(/scale has 2.*zeroPoint has 1/));
  });

  it('scale ≤ 0, NaN or infinite', () => {
    expect(check({scale: [0], zeroPoint: [0]}, [1])).toThrow(named(/scale\[0\] = 0 /));
    expect(check({scale: [1, -2], zeroPoint: [0, 0], axis: 0}, [2])).toThrow(named(/scale\[1\] = -2 /));
    expect(check({scale: [Number.NaN], zeroPoint: [0]}, [1])).toThrow(named(/scale\[0\] = NaN/));
    expect(check({scale: [Infinity], zeroPoint: [0]}, [1])).toThrow(named(/scale\[0\] = Infinity/));
  });

  it('zero point non-integer or outside the dtype range', () => {
    expect(check({scale: [1], zeroPoint: [0.5]}, [1])).toThrow(named(/zeroPoint\[0\] = 0.5 is not an integer/));
    expect(check({scale: [1], zeroPoint: [128]}, [1])).toThrow(named(/zeroPoint\[0\] = 128 is outside the int8/));
    expect(check({scale: [1], zeroPoint: [-129]}, [1])).toThrow(named(/zeroPoint\[0\] = -129/));
  });

  it('quantizeValues/dequantizeValues validate with the tensor name', () => {
    expect(() => quantizeValues([1, 2], [2], {scale: [0], zeroPoint: [0]}, 'int8', 'x')).toThrow(/'x'.*scale\[0\]/);
    expect(() => quantizeValues([1, 2, 3], [2], {scale: [1], zeroPoint: [0]}, 'int8', 'x')).toThrow(
      /'x'.*3 values.*shape \[2\]/,
    );
    expect(() => dequantizeValues(Int8Array.from([1]), [1], {scale: [1], zeroPoint: [0], axis: 1}, 'y')).toThrow(
      /'y'.*axis 1/,
    );
  });
});
