// Decodes the browserify UMD wrappers in which nsfwjs ships its Keras models: each `*.min.js`
// file is a one-module bundle whose module body is `<module>.exports=<literal>`, where the
// literal is the model.json as a (minified) JavaScript object, or a weight shard as a base64
// string. The wrapper is never executed: the literal is parsed by the small reader below, and
// anything else in the module body is rejected with an error naming the file.

export type JsLiteral = null | boolean | number | string | JsLiteral[] | {[key: string]: JsLiteral};

/** `{1:[function(require,module,exports){module.exports=` with minified parameter names. */
const BUNDLE_MODULE_START =
  /\{1:\[function\(([A-Za-z_$][\w$]*),([A-Za-z_$][\w$]*),([A-Za-z_$][\w$]*)\)\{\s*\2\.exports\s*=\s*/;
/** What follows the module body: the bundle's module table end and the UMD call. */
const BUNDLE_END = /^;?\s*\},\{\}\]\},\{\},\[1\]\)\(1\)\}\);?\s*(\/\/[^\n]*\s*)*$/;

function unrecognised(fileLabel: string, detail: string): Error {
  return new Error(
    `${fileLabel}: unrecognised UMD wrapper (${detail}); expected a one-module browserify bundle ` +
      'whose module body is `module.exports=<object or string literal>`',
  );
}

/** Reads JavaScript literals (objects, arrays, strings, numbers, !0/!1, null) from minified code. */
class JsLiteralReader {
  position: number;

  constructor(
    private readonly source: string,
    start: number,
    private readonly fileLabel: string,
  ) {
    this.position = start;
  }

  readValue(): JsLiteral | undefined {
    this.skipWhitespace();
    const char = this.source[this.position];
    if (char === '{') return this.readObject();
    if (char === '[') return this.readArray();
    if (char === '"' || char === "'") return this.readString();
    if (char === '!') return this.readNegatedDigit();
    if (char !== undefined && /[-+.\d]/.test(char)) return this.readNumber();
    return this.readKeyword();
  }

  private fail(what: string): Error {
    const snippet = this.source.slice(this.position, this.position + 40);
    return unrecognised(this.fileLabel, `${what} at offset ${this.position}: "${snippet}"`);
  }

  private skipWhitespace(): void {
    while (/\s/.test(this.source[this.position] ?? '')) this.position++;
  }

  private expect(char: string): void {
    this.skipWhitespace();
    if (this.source[this.position] !== char) throw this.fail(`expected "${char}"`);
    this.position++;
  }

  /** Consumes `char` if it is next (after whitespace). */
  private accept(char: string): boolean {
    this.skipWhitespace();
    if (this.source[this.position] !== char) return false;
    this.position++;
    return true;
  }

  private readObject(): {[key: string]: JsLiteral} {
    const result: {[key: string]: JsLiteral} = {};
    this.expect('{');
    while (!this.accept('}')) {
      const key = this.readKey();
      this.expect(':');
      const value = this.readValue();
      if (value !== undefined) result[key] = value;
      if (!this.accept(',')) {
        this.expect('}');
        break;
      }
    }
    return result;
  }

  private readKey(): string {
    this.skipWhitespace();
    const char = this.source[this.position];
    if (char === '"' || char === "'") return this.readString();
    const match = /[A-Za-z_$][\w$]*|\d+(\.\d+)?/y;
    match.lastIndex = this.position;
    const found = match.exec(this.source);
    if (found === null) throw this.fail('expected an object key');
    this.position += found[0].length;
    return found[0];
  }

  private readArray(): JsLiteral[] {
    const result: JsLiteral[] = [];
    this.expect('[');
    while (!this.accept(']')) {
      const value = this.readValue();
      result.push(value === undefined ? null : value);
      if (!this.accept(',')) {
        this.expect(']');
        break;
      }
    }
    return result;
  }

  private readString(): string {
    const quote = this.source[this.position];
    const parts: string[] = [];
    let segmentStart = ++this.position;
    for (;;) {
      const char = this.source[this.position];
      if (char === undefined || char === '\n') throw this.fail('unterminated string');
      if (char === quote) break;
      if (char === '\\') {
        parts.push(this.source.slice(segmentStart, this.position));
        parts.push(this.readEscape());
        segmentStart = this.position;
      } else {
        this.position++;
      }
    }
    parts.push(this.source.slice(segmentStart, this.position));
    this.position++;
    return parts.join('');
  }

  /** Reads one escape sequence starting at the backslash. */
  private readEscape(): string {
    const char = this.source[this.position + 1];
    const simple: {[escape: string]: string} = {n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', '0': '\0'};
    if (char === 'x' || char === 'u') {
      const hex = /x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|u\{([0-9a-fA-F]{1,6})\}/y;
      hex.lastIndex = this.position + 1;
      const found = hex.exec(this.source);
      if (found === null) throw this.fail('bad escape sequence');
      this.position += 1 + found[0].length;
      return String.fromCodePoint(parseInt(found[1] ?? found[2] ?? found[3], 16));
    }
    if (char === undefined) throw this.fail('unterminated string');
    this.position += 2;
    return simple[char] ?? char;
  }

  private readNumber(): number {
    const numberPattern = /[-+]?(0[xX][0-9a-fA-F]+|(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)/y;
    numberPattern.lastIndex = this.position;
    const found = numberPattern.exec(this.source);
    if (found === null) throw this.fail('bad number');
    this.position += found[0].length;
    if (/[\w$./]/.test(this.source[this.position] ?? '')) throw this.fail('expression after number');
    return Number(found[0]);
  }

  /** Minifiers write `true` as `!0` and `false` as `!1`. */
  private readNegatedDigit(): boolean {
    const next = this.source[this.position + 1];
    if (next !== '0' && next !== '1') throw this.fail('unsupported "!" expression');
    this.position += 2;
    return next === '0';
  }

  private readKeyword(): JsLiteral | undefined {
    const keywords: Array<[string, JsLiteral | undefined]> = [
      ['true', true],
      ['false', false],
      ['null', null],
      ['void 0', undefined],
    ];
    for (const [word, value] of keywords) {
      const after = this.source[this.position + word.length] ?? '';
      if (this.source.startsWith(word, this.position) && !/[\w$]/.test(after)) {
        this.position += word.length;
        return value;
      }
    }
    throw this.fail('expected a literal value');
  }
}

/** Finds the single module's `module.exports = <literal>` and parses the literal. */
export function readBrowserifyExport(source: string, fileLabel: string): JsLiteral {
  const start = BUNDLE_MODULE_START.exec(source);
  if (start === null) throw unrecognised(fileLabel, 'no `{1:[function(e,t,n){t.exports=` module found');
  const reader = new JsLiteralReader(source, start.index + start[0].length, fileLabel);
  const value = reader.readValue();
  if (value === undefined) throw unrecognised(fileLabel, 'module exports `void 0`');
  if (!BUNDLE_END.test(source.slice(reader.position))) {
    throw unrecognised(fileLabel, `unexpected code after the exported literal at offset ${reader.position}`);
  }
  return value;
}

function isPlainObject(value: JsLiteral): value is {[key: string]: JsLiteral} {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Decodes a wrapped model.json: an object with `modelTopology` and `weightsManifest`. */
export function decodeWrappedModelJson(source: string, fileLabel: string): {[key: string]: JsLiteral} {
  const value = readBrowserifyExport(source, fileLabel);
  if (!isPlainObject(value) || !isPlainObject(value.modelTopology ?? null) || !Array.isArray(value.weightsManifest)) {
    throw unrecognised(fileLabel, 'the exported value is not a model.json object with modelTopology and weightsManifest');
  }
  return value;
}

/** Decodes a wrapped weight shard: a base64 string. */
export function decodeWrappedWeightShard(source: string, fileLabel: string): Buffer {
  const value = readBrowserifyExport(source, fileLabel);
  if (typeof value !== 'string') throw unrecognised(fileLabel, 'the exported value is not a base64 string');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw unrecognised(fileLabel, 'the exported string is not base64');
  }
  return Buffer.from(value, 'base64');
}
