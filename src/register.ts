import {getKernel, getKernelsForBackend, registerBackend, registerKernel, findBackendFactory} from '@tensorflow/tfjs-core';
// Registers the cpu backend and its kernels, whose kernels the int8 backend reuses.
import '@tensorflow/tfjs-backend-cpu';

import {int8KernelConfigs} from '../kernels/register_all_kernels';
import {preloadSharedInt8Wasm} from '../kernels/wasm/loader';
import {BackendInt8} from './backend';
import {fetchInt8WasmBytes, getWasmPath, lockWasmPaths} from './wasm_paths';

/** The name to pass to `tf.setBackend`. */
export const BACKEND_NAME = 'int8';

/** Priority below cpu (1): an app opts in with `tf.setBackend('int8')`. */
const PRIORITY = 0;

/**
 * Registers the `int8` backend: our integer kernels first, then every cpu
 * kernel we do not replace. Safe to call more than once.
 */
export function registerInt8Backend(): void {
  if (findBackendFactory(BACKEND_NAME) == null) {
    registerBackend(BACKEND_NAME, createBackend, PRIORITY);
  }
  for (const config of int8KernelConfigs) {
    // Registered as a copy, so compare kernel functions, not configs.
    if (getKernel(config.kernelName, BACKEND_NAME)?.kernelFunc !== config.kernelFunc) {
      registerKernel({...config, backendName: BACKEND_NAME});
    }
  }
  const ours = new Set(int8KernelConfigs.map(k => k.kernelName));
  for (const config of getKernelsForBackend('cpu')) {
    if (!ours.has(config.kernelName) && getKernel(config.kernelName, BACKEND_NAME) == null) {
      registerKernel({...config, backendName: BACKEND_NAME});
    }
  }
}

/**
 * The backend factory. With the module inlined (the default) it is synchronous;
 * after `setWasmPaths(...)` it first fetches and compiles the module from there.
 */
function createBackend(): BackendInt8 | Promise<BackendInt8> {
  lockWasmPaths();
  if (getWasmPath() === undefined) return new BackendInt8();
  return fetchInt8WasmBytes()
      .then(bytes => preloadSharedInt8Wasm(bytes ?? undefined))
      .then(() => new BackendInt8());
}

registerInt8Backend();
