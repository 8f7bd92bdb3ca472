#!/usr/bin/env node
// The `tfjs-int8` command: quantize, eval, bench, compare-methods.
// Runs the CLI's TypeScript source (src/cli/main.ts) through tsx.
import {register} from 'tsx/esm/api';

register();
const {main} = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
