// Switching the active tfjs backend by name, importing tfjs-backend-wasm or the int8 backend on
// first use (so a run that never touches them does not load them).

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

export type TfjsBackendName = 'cpu' | 'wasm' | 'int8';

/** Makes `name` the active backend; an error names the backend that failed to initialize. */
export async function useBackend(name: TfjsBackendName): Promise<void> {
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  if (name === 'int8') await import('../src/index');
  if (tf.getBackend() === name) return;
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (error) {
    throw new Error(`backend ${name} could not be initialized: ${(error as Error).message}`);
  }
  if (!ok) throw new Error(`backend ${name} could not be initialized`);
}
