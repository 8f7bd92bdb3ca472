// Guards the harness itself: the suite's specs really run on BackendInt8,
// through the same tfjs-core instance our backend registered with.
import * as tf from '@tensorflow/tfjs-core';
import {ALL_ENVS, describeWithFlags} from '@tensorflow/tfjs-core/dist/jasmine_util';

import {BackendInt8, registerInt8Backend} from '../../src/index.ts';

describeWithFlags('int8 core-suite harness', ALL_ENVS, () => {
  it('runs specs on BackendInt8', () => {
    expect(tf.getBackend()).toBe('int8');
    expect(tf.engine().backend instanceof BackendInt8).toBe(true);
  });

  it('has a kernel registered under int8 for every cpu kernel', () => {
    const int8 = new Set(tf.getKernelsForBackend('int8').map(k => k.kernelName));
    const missing = tf.getKernelsForBackend('cpu')
                        .map(k => k.kernelName)
                        .filter(name => !int8.has(name));
    expect(missing).toEqual([]);
  });

  it('registerInt8Backend is idempotent (registers nothing twice)', () => {
    const before = tf.getKernelsForBackend('int8');
    registerInt8Backend();
    const after = new Map(tf.getKernelsForBackend('int8').map(k => [k.kernelName, k]));
    expect(before.filter(k => after.get(k.kernelName) !== k).map(k => k.kernelName)).toEqual([]);
  });

  // Kernels that return an input's dataId (Reshape, Identity, ...) call
  // backend.incRef before anything else; data still held by another backend
  // must be moved over first, as the cpu backend does.
  it('adopts tensors created on cpu (incRef / readSync / dispose)', async () => {
    await tf.setBackend('cpu');
    const x = tf.tensor1d([1, 2, 3, 4]);
    const z = tf.tensor1d([5, 6]);
    await tf.setBackend('int8');
    try {
      const reshaped = tf.reshape(x, [2, 2]);
      const cloned = tf.clone(x);
      const sum = tf.add(z, 1);
      const r = tf.reshape(z, [1, 2]);
      z.dispose();
      expect(Array.from(await reshaped.data())).toEqual([1, 2, 3, 4]);
      expect(Array.from(cloned.dataSync())).toEqual([1, 2, 3, 4]);
      expect(Array.from(sum.dataSync())).toEqual([6, 7]);
      expect(Array.from(r.dataSync())).toEqual([5, 6]);
      expect(tf.engine().backend instanceof BackendInt8).toBe(true);
    } finally {
      await tf.setBackend('int8');
    }
  });

  it('computes on int8 and reads back', async () => {
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const b = tf.add(a, tf.scalar(1));
    expect(Array.from(await b.data())).toEqual([2, 3, 4, 5]);
    expect(Array.from(b.dataSync())).toEqual([2, 3, 4, 5]);
  });
});
