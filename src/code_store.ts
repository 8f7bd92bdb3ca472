import type {CodeDtype} from './quant/types';

/** The integer codes of a quantized tensor (int8 or int32), wherever they live. */
export type Codes = Int8Array | Int32Array;

/**
 * Where a quantized tensor's codes live. Kernels always call `codes()` right
 * before use and never keep the view: a store in WebAssembly memory re-derives
 * it after the memory grows.
 */
export interface CodeStore {
  readonly dtype: CodeDtype;
  readonly length: number;
  /** A view of the codes, valid until the next allocation. */
  codes(): Codes;
  /** Releases the codes; the store must not be used afterwards. */
  free(): void;
}

/** Codes held in an ordinary JavaScript typed array. */
export class ArrayCodeStore implements CodeStore {
  private array: Codes | null;
  readonly dtype: CodeDtype;
  readonly length: number;

  constructor(codes: Codes) {
    this.array = codes;
    this.dtype = codes instanceof Int8Array ? 'int8' : 'int32';
    this.length = codes.length;
  }

  codes(): Codes {
    if (this.array == null) {
      throw new Error('Quantized codes were read after they were freed.');
    }
    return this.array;
  }

  free(): void {
    this.array = null;
  }
}
