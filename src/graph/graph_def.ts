// The JSON form of a TensorFlow GraphDef as tfjs writes it in model.json
// (`modelTopology.node`), and small pure helpers to read and write it.

/** A tensor shape as written in model.json. */
export interface TensorShapeJson {
  dim?: Array<{size?: string | number}>;
  unknownRank?: boolean;
}

/** One attribute value (the protobuf JSON mapping: int64 as strings or numbers, strings base64). */
export interface AttrValue {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  shape?: TensorShapeJson;
  tensor?: {dtype?: string; tensorShape?: TensorShapeJson};
  list?: {
    s?: string[];
    i?: Array<string | number>;
    f?: number[];
    b?: boolean[];
    type?: string[];
    shape?: TensorShapeJson[];
  };
  func?: {name: string};
}

/** One node of the graph. */
export interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  device?: string;
  attr?: Record<string, AttrValue>;
}

/** A node input reference: `name`, `name:1` or the control input `^name`. */
export interface InputRef {
  node: string;
  outputIndex: number;
  control: boolean;
}

export function parseInputRef(ref: string): InputRef {
  if (ref.startsWith('^')) {
    return {node: ref.slice(1), outputIndex: 0, control: true};
  }
  const match = /^(.*):(\d+)$/.exec(ref);
  if (match != null) {
    return {node: match[1], outputIndex: Number(match[2]), control: false};
  }
  return {node: ref, outputIndex: 0, control: false};
}

export function formatInputRef(ref: InputRef): string {
  if (ref.control) return `^${ref.node}`;
  return ref.outputIndex === 0 ? ref.node : `${ref.node}:${ref.outputIndex}`;
}

/** The names of the nodes a node reads data from (control inputs left out). */
export function dataInputNodes(node: NodeDef): string[] {
  return (node.input ?? []).map(parseInputRef).filter(r => !r.control).map(r => r.node);
}

// ---------------------------------------------------------------------------
// base64 (string attrs are base64 in model.json)

export function encodeBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function decodeBase64(text: string): string {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

// ---------------------------------------------------------------------------
// Reading attributes

function attrOf(node: NodeDef, key: string): AttrValue | undefined {
  return node.attr?.[key];
}

export function hasAttr(node: NodeDef, key: string): boolean {
  return attrOf(node, key) !== undefined;
}

export function getStringAttr(node: NodeDef, key: string, fallback = ''): string {
  const value = attrOf(node, key);
  return value?.s != null ? decodeBase64(value.s) : fallback;
}

export function getIntAttr(node: NodeDef, key: string, fallback = 0): number {
  const value = attrOf(node, key);
  if (value?.i == null) return fallback;
  return typeof value.i === 'number' ? value.i : parseInt(value.i, 10);
}

export function getFloatAttr(node: NodeDef, key: string, fallback = 0): number {
  const value = attrOf(node, key);
  return value?.f != null ? Number(value.f) : fallback;
}

export function getBoolAttr(node: NodeDef, key: string, fallback = false): boolean {
  const value = attrOf(node, key);
  return value?.b != null ? value.b : fallback;
}

export function getTypeAttr(node: NodeDef, key: string): string | undefined {
  return attrOf(node, key)?.type;
}

export function getIntListAttr(node: NodeDef, key: string, fallback: number[] = []): number[] {
  const list = attrOf(node, key)?.list;
  if (list == null) return fallback;
  return (list.i ?? []).map(v => (typeof v === 'number' ? v : parseInt(v, 10)));
}

export function getFloatListAttr(node: NodeDef, key: string, fallback: number[] = []): number[] {
  const list = attrOf(node, key)?.list;
  if (list == null) return fallback;
  return (list.f ?? []).map(Number);
}

export function getStringListAttr(node: NodeDef, key: string): string[] {
  return (attrOf(node, key)?.list?.s ?? []).map(decodeBase64);
}

/** The shape of a Const node's tensor or a Placeholder's `shape` attr; -1 for unknown dims. */
export function getShapeAttr(node: NodeDef): number[] | undefined {
  const shape = node.attr?.value?.tensor?.tensorShape ?? node.attr?.shape?.shape;
  if (shape == null || shape.unknownRank) return undefined;
  return (shape.dim ?? []).map(d => (d.size == null ? 1 : Number(d.size)));
}

// ---------------------------------------------------------------------------
// Writing attributes

export const attr = {
  string: (value: string): AttrValue => ({s: encodeBase64(value)}),
  int: (value: number): AttrValue => ({i: String(Math.trunc(value))}),
  float: (value: number): AttrValue => ({f: value}),
  bool: (value: boolean): AttrValue => ({b: value}),
  type: (dtype: 'float32' | 'int32' | 'bool'): AttrValue => ({type: tfTypeName(dtype)}),
  // Numbers (not strings) in int lists: tfjs parses both and numbers cost no parseInt per run.
  intList: (values: readonly number[]): AttrValue => ({list: {i: values.map(v => Math.trunc(v))}}),
  floatList: (values: readonly number[]): AttrValue => ({list: {f: values.slice()}}),
  stringList: (values: readonly string[]): AttrValue => ({list: {s: values.map(encodeBase64)}}),
  tensor: (dtype: 'float32' | 'int32' | 'bool', shape: readonly number[]): AttrValue => ({
    tensor: {dtype: tfTypeName(dtype), tensorShape: {dim: shape.map(size => ({size: String(size)}))}},
  }),
};

export function tfTypeName(dtype: 'float32' | 'int32' | 'bool'): string {
  return dtype === 'float32' ? 'DT_FLOAT' : dtype === 'int32' ? 'DT_INT32' : 'DT_BOOL';
}

/** tfjs's dtype for a TensorFlow type name (as tfjs-converter maps them). */
export function tfjsDtypeOf(tfType: string | undefined): 'float32' | 'int32' | 'bool' | 'string' | 'other' {
  switch (tfType) {
    case 'DT_FLOAT':
    case 'DT_HALF':
    case 'DT_DOUBLE':
    case 'DT_BFLOAT16':
      return 'float32';
    case 'DT_INT32':
    case 'DT_INT64':
    case 'DT_INT8':
    case 'DT_UINT8':
    case 'DT_INT16':
    case 'DT_UINT16':
      return 'int32';
    case 'DT_BOOL':
      return 'bool';
    case 'DT_STRING':
      return 'string';
    default:
      return 'other';
  }
}

/** A Const node for a weight of `dtype` and `shape` (its data lives in the weight map). */
export function makeConstNode(name: string, dtype: 'float32' | 'int32' | 'bool', shape: readonly number[]): NodeDef {
  return {name, op: 'Const', attr: {value: attr.tensor(dtype, shape), dtype: attr.type(dtype)}};
}

/** A copy of `node` with the given attributes set (others kept). */
export function withAttrs(node: NodeDef, attrs: Record<string, AttrValue>): NodeDef {
  return {...node, attr: {...(node.attr ?? {}), ...attrs}};
}

/** A copy of `node` without the given attributes. */
export function withoutAttrs(node: NodeDef, keys: readonly string[]): NodeDef {
  const kept: Record<string, AttrValue> = {};
  for (const [key, value] of Object.entries(node.attr ?? {})) {
    if (!keys.includes(key)) kept[key] = value;
  }
  return {...node, attr: kept};
}
