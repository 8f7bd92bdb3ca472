// Entry point of the core-suite bundle (built by run-core-suite.mjs).
//
// tfjs-core, tfjs-backend-cpu and our backend are bundled together so that
// there is exactly one tfjs-core (one engine, one kernel registry). Imports
// are evaluated in order: the test env must be set before the suite's
// describeWithFlags calls run at module load.
import './suite_env.mjs';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import './harness_spec.mjs';
import '@tensorflow/tfjs-core/dist/tests';

// The bundle's (only) tfjs-core, for the runner's --trace-kernels option.
export * as tf from '@tensorflow/tfjs-core';
