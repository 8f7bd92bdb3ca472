// Registers the `int8` backend and makes it the only test env of the suite.
import {setTestEnvs} from '@tensorflow/tfjs-core/dist/jasmine_util';

import '../../src/index.ts';

/** The env every describeWithFlags block of the suite runs under. */
export const INT8_TEST_ENV = {
  name: 'int8',
  backendName: 'int8',
  flags: {},
  isDataSync: true,
};

// setTestEnvs (rather than registerTestEnv) replaces any env registered
// earlier and turns later registerTestEnv calls into no-ops, so the suite runs
// against int8 only, never cpu.
setTestEnvs([INT8_TEST_ENV]);
