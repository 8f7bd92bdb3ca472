import {getKernel, getKernelsForBackend, registerBackend, registerKernel, findBackendFactory} from '@tensorflow/tfjs-core';
// Registers the cpu backend and its kernels, whose kernels the int8 backend reuses.
import '@tensorflow/tfjs-backend-cpu';

import {int8KernelConfigs} from '../kernels/register_all_kernels';
import {BackendInt8} from './backend';

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
    registerBackend(BACKEND_NAME, () => new BackendInt8(), PRIORITY);
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

registerInt8Backend();
