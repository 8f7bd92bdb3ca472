// Command-line arguments: positionals and --flags (`--name value` or `--name=value`; boolean flags alone).

export interface ParsedArgs {
  command: string | undefined;
  positionals: string[];
  flags: Map<string, string | true>;
}

/** Flags that take no value. */
const BOOLEAN_FLAGS = new Set(['per-tensor', 'help', 'no-report']);

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h') {
      flags.set('help', true);
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      if (BOOLEAN_FLAGS.has(name)) {
        flags.set(name, true);
      } else if (eq >= 0) {
        flags.set(name, arg.slice(eq + 1));
      } else {
        const value = argv[i + 1];
        if (value === undefined || value.startsWith('--')) throw new UsageError(`option --${name} needs a value`);
        flags.set(name, value);
        i++;
      }
    } else {
      positionals.push(arg);
    }
  }
  return {command: positionals.shift(), positionals, flags};
}

export function checkKnownFlags(args: ParsedArgs, known: readonly string[]): void {
  for (const name of args.flags.keys()) {
    if (name !== 'help' && !known.includes(name)) throw new UsageError(`unknown option --${name} for '${args.command}'`);
  }
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.flags.get(name);
  return typeof value === 'string' ? value : undefined;
}

export function requiredFlag(args: ParsedArgs, name: string): string {
  const value = stringFlag(args, name);
  if (value === undefined) throw new UsageError(`'${args.command}' needs --${name}`);
  return value;
}

export function positiveIntFlag(args: ParsedArgs, name: string): number | undefined {
  const value = stringFlag(args, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer, got '${value}'`);
  return n;
}

/** `--input-size HxW` (or a single number for square inputs). */
export function inputSizeFlag(args: ParsedArgs): {height: number; width: number} | undefined {
  const value = stringFlag(args, 'input-size');
  if (value === undefined) return undefined;
  const match = /^(\d+)(?:x(\d+))?$/i.exec(value);
  if (match == null) throw new UsageError(`--input-size must be HxW (e.g. 224x224), got '${value}'`);
  const height = Number(match[1]);
  const width = Number(match[2] ?? match[1]);
  if (height <= 0 || width <= 0) throw new UsageError(`--input-size must be positive, got '${value}'`);
  return {height, width};
}

export type InputRange = '0,1' | '-1,1' | '0,255';

export function inputRangeFlag(args: ParsedArgs): InputRange | undefined {
  const value = stringFlag(args, 'input-range');
  if (value === undefined) return undefined;
  if (value !== '0,1' && value !== '-1,1' && value !== '0,255') {
    throw new UsageError(`--input-range must be 0,1 or -1,1 or 0,255, got '${value}'`);
  }
  return value;
}
