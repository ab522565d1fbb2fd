// ONNX TensorProto ⇄ Tensor: raw_data, the typed fields (packing rules of onnx.proto) and external data.
// Every problem with a proto read from a file is a FormatError naming the file and the tensor.
import { closeSync, fstatSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import type { DType, TensorDataByType } from '../dtype.ts';
import { DTYPE_BYTES, DTYPE_BY_ONNX_CODE, ONNX_DATA_TYPE, allocate, fromBytes, toBytes } from '../dtype.ts';
import { FormatError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';

/** Where a proto came from: the .onnx file (for messages) and the folder external data is confined to. */
export interface ProtoSource {
  file: string;
  dir: string;
}

// ---- data types ----

/** Names of every code in onnx.proto (also the ones we do not support), for messages. */
const ONNX_TYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED', 1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64',
  8: 'STRING', 9: 'BOOL', 10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64',
  15: 'COMPLEX128', 16: 'BFLOAT16', 17: 'FLOAT8E4M3FN', 18: 'FLOAT8E4M3FNUZ', 19: 'FLOAT8E5M2',
  20: 'FLOAT8E5M2FNUZ', 21: 'UINT4', 22: 'INT4', 23: 'FLOAT4E2M1',
};

const SUPPORTED_LIST = [...DTYPE_BY_ONNX_CODE.entries()]
  .sort((a, b) => a[0] - b[0])
  .map(([code, dtype]) => `${ONNX_TYPE_NAMES[code]} (${dtype})`)
  .join(', ');

/** The name onnx.proto gives a data type code, e.g. `COMPLEX64 (14)`. */
export function onnxTypeName(code: number): string {
  const name = ONNX_TYPE_NAMES[code];
  return name ? `${name} (${code})` : `${code}`;
}

/**
 * Our dtype for an ONNX data type code. Unknown or unsupported codes throw a FormatError naming `file` and
 * `tensor` when a file is given (a RangeError otherwise), listing the supported types.
 */
export function dtypeFromOnnx(code: number, file?: string, tensor?: string): DType {
  const dtype = DTYPE_BY_ONNX_CODE.get(code);
  if (dtype !== undefined) return dtype;
  const detail = `unsupported ONNX data type ${onnxTypeName(code)}; supported: ${SUPPORTED_LIST}`;
  if (file !== undefined) throw new FormatError(file, detail, tensor === undefined ? undefined : printable(tensor));
  throw new RangeError(detail);
}

/** The ONNX data type code of a dtype. */
export function onnxFromDtype(dtype: DType): number {
  const code = ONNX_DATA_TYPE[dtype];
  if (code === undefined) throw new RangeError(`unknown dtype '${String(dtype)}'; expected one of: ${Object.keys(ONNX_DATA_TYPE).join(', ')}`);
  return code;
}

// ---- small helpers shared with read-model.ts ----

/** A protobufjs int64 as decoded: a number, or a Long when the `long` package is present. */
export type Int64Like = number | { low: number; high: number; unsigned?: boolean };

/** The value of an int64 field as a number, or undefined when it is not a safe integer. */
export function int64ToNumber(v: Int64Like | null | undefined): number | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v !== 'object' || typeof v.low !== 'number' || typeof v.high !== 'number') return undefined;
  const value = v.unsigned ? (v.high >>> 0) * 2 ** 32 + (v.low >>> 0) : (v.high | 0) * 2 ** 32 + (v.low >>> 0);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** The value of an int64/uint64 field as a bigint (two's complement 64-bit, signed or not as asked). */
export function int64ToBigInt(v: Int64Like, unsigned: boolean): bigint | undefined {
  let bits: bigint;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return undefined;
    bits = BigInt(v);
    if (unsigned ? bits < 0n || bits > 0xffffffffffffffffn : bits < -(2n ** 63n) || bits >= 2n ** 63n) return undefined;
    return bits;
  }
  if (typeof v !== 'object' || v === null || typeof v.low !== 'number' || typeof v.high !== 'number') return undefined;
  bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return unsigned ? bits : BigInt.asIntN(64, bits);
}

/** A name from a file, safe to put in a one-line message (control characters escaped, long names cut). */
export function printable(name: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > 120 ? `${escaped.slice(0, 117)}...` : escaped;
}

function own(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

// ---- validation without reading data ----

const DataLocation = onnxProto.onnx.TensorProto.DataLocation;

/** Which field holds a tensor's data. */
type Source =
  | { kind: 'raw'; bytes: Uint8Array }
  | { kind: 'typed'; field: TypedField; values: readonly unknown[] }
  | { kind: 'external'; path: string; offset: number; length: number }
  | { kind: 'empty' };

type TypedField = 'floatData' | 'int32Data' | 'int64Data' | 'doubleData' | 'uint64Data' | 'stringData';

/** The typed field onnx.proto stores each dtype in. */
const TYPED_FIELD: Record<DType, TypedField> = {
  float32: 'floatData', float64: 'doubleData', int64: 'int64Data', uint32: 'uint64Data', uint64: 'uint64Data',
  int8: 'int32Data', int16: 'int32Data', int32: 'int32Data', uint8: 'int32Data', uint16: 'int32Data',
  bool: 'int32Data', float16: 'int32Data', bfloat16: 'int32Data', string: 'stringData',
};
const TYPED_FIELDS: TypedField[] = ['floatData', 'int32Data', 'int64Data', 'doubleData', 'uint64Data', 'stringData'];
const PROTO_FIELD_NAME: Record<TypedField, string> = {
  floatData: 'float_data', int32Data: 'int32_data', int64Data: 'int64_data', doubleData: 'double_data',
  uint64Data: 'uint64_data', stringData: 'string_data',
};

/** A checked TensorProto: dtype, dims, element count and where its data is. */
interface Checked {
  name: string;
  dtype: DType;
  dims: number[];
  count: number;
  source: Source;
}

/**
 * Checks a TensorProto without converting its data: known dtype, non-negative dims, element count matching
 * the data (raw_data bytes, typed field length, or the external file's range, which must stay inside `where.dir`).
 * Throws FormatError naming the file and tensor.
 */
export function checkTensorProto(proto: onnx.ITensorProto, where: ProtoSource): void {
  checkProto(proto, where);
}

function checkProto(proto: onnx.ITensorProto, where: ProtoSource): Checked {
  const file = where.file;
  if (proto === null || typeof proto !== 'object') throw new FormatError(file, 'tensor is missing');
  const name = typeof proto.name === 'string' ? proto.name : '';
  const label = printable(name || '<unnamed>');
  const fail = (detail: string): never => { throw new FormatError(file, detail, label); };

  const code = proto.dataType ?? 0;
  if (code === 0) fail('has no data type (data_type is UNDEFINED)');
  const dtype = dtypeFromOnnx(code, file, label);

  const dims: number[] = [];
  let count = 1;
  for (const d of proto.dims ?? []) {
    const n = int64ToNumber(d as Int64Like);
    if (n === undefined || n < 0) fail(`dimension ${dims.length} is ${String(n ?? d)}; dims must be non-negative integers`);
    dims.push(n!);
    count *= n!;
    if (!Number.isSafeInteger(count)) fail(`dims [${dims.join(', ')}...] have too many elements`);
  }
  if (proto.segment !== null && proto.segment !== undefined && own(proto, 'segment')) fail('segmented tensors are not supported');

  const size = dtype === 'string' ? 0 : DTYPE_BYTES[dtype];
  const typedPresent = TYPED_FIELDS.filter((f) => Array.isArray(proto[f]) && proto[f]!.length > 0);
  const raw = proto.rawData;
  const hasRaw = raw instanceof Uint8Array && raw.byteLength > 0;
  const location = proto.dataLocation ?? DataLocation.DEFAULT;
  if (location !== DataLocation.DEFAULT && location !== DataLocation.EXTERNAL) fail(`unknown data_location ${String(location)}`);
  const hasExternal = location === DataLocation.EXTERNAL;

  const sources = (hasRaw ? 1 : 0) + (hasExternal ? 1 : 0) + typedPresent.length;
  if (sources > 1) {
    const kinds = [...(hasRaw ? ['raw_data'] : []), ...(hasExternal ? ['external data'] : []), ...typedPresent.map((f) => PROTO_FIELD_NAME[f])];
    fail(`holds its data in more than one place (${kinds.join(', ')})`);
  }

  let source: Source;
  if (hasExternal) {
    if (dtype === 'string') fail('string tensors cannot be stored as external data');
    source = checkExternal(proto, where, label, count * size);
  } else if (hasRaw) {
    if (dtype === 'string') fail('string tensors cannot use raw_data');
    if (raw!.byteLength !== count * size) {
      fail(`raw_data has ${raw!.byteLength} bytes, but dims [${dims.join(', ')}] of ${dtype} need ${count * size}`);
    }
    source = { kind: 'raw', bytes: raw! };
  } else if (typedPresent.length === 1) {
    const field = typedPresent[0]!;
    if (field !== TYPED_FIELD[dtype]) fail(`${dtype} data must be in ${PROTO_FIELD_NAME[TYPED_FIELD[dtype]]}, found ${PROTO_FIELD_NAME[field]}`);
    const values = proto[field] as readonly unknown[];
    if (values.length !== count) fail(`${PROTO_FIELD_NAME[field]} has ${values.length} elements, but dims [${dims.join(', ')}] need ${count}`);
    source = { kind: 'typed', field, values };
  } else {
    if (count !== 0) fail(`has no data, but dims [${dims.join(', ')}] need ${count} elements`);
    source = { kind: 'empty' };
  }
  return { name: label, dtype, dims, count, source };
}

const EXTERNAL_KEYS = new Set(['location', 'offset', 'length', 'checksum']);

function checkExternal(proto: onnx.ITensorProto, where: ProtoSource, label: string, byteSize: number): Source {
  const file = where.file;
  const fail = (detail: string): never => { throw new FormatError(file, detail, label); };
  const entries = new Map<string, string>();
  for (const e of proto.externalData ?? []) {
    const key = typeof e?.key === 'string' ? e.key : '';
    const value = typeof e?.value === 'string' ? e.value : '';
    if (!EXTERNAL_KEYS.has(key)) fail(`unknown external_data key '${printable(key)}'; expected location, offset, length, checksum`);
    if (entries.has(key)) fail(`external_data key '${key}' appears twice`);
    entries.set(key, value);
  }
  const location = entries.get('location');
  if (!location) fail('external data has no location');
  const number = (key: string): number | undefined => {
    const text = entries.get(key);
    if (text === undefined) return undefined;
    const n = /^[0-9]{1,16}$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n)) fail(`external data ${key} '${printable(text)}' is not a non-negative integer`);
    return n;
  };
  const offset = number('offset') ?? 0;
  const length = number('length');
  if (length !== undefined && length !== byteSize) fail(`external data length ${length} does not match the tensor's ${byteSize} bytes`);

  const path = resolveInside(where, location!, label);
  let fileSize: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) fail(`external data '${printable(location!)}' is not a regular file`);
    fileSize = st.size;
  } catch (e) {
    if (e instanceof FormatError) throw e;
    return fail(`external data file '${printable(location!)}' cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (offset > fileSize || byteSize > fileSize - offset) {
    fail(`external data '${printable(location!)}' has ${fileSize} bytes; bytes ${offset}..${offset + byteSize} are out of range`);
  }
  return { kind: 'external', path, offset, length: byteSize };
}

/** Resolves an external data location, refusing anything that leaves `where.dir` (absolute, `..`, symlinks). */
function resolveInside(where: ProtoSource, location: string, label: string): string {
  const fail = (detail: string): never => { throw new FormatError(where.file, detail, label); };
  const shown = printable(location);
  if (location.includes('\0')) fail(`external data location '${shown}' contains a NUL character`);
  if (isAbsolute(location) || /^[a-zA-Z]:/.test(location) || location.startsWith('\\') || location.startsWith('/')) {
    fail(`external data location '${shown}' is absolute; it must be relative to the model's folder`);
  }
  if (location.split(/[\\/]/).includes('..')) fail(`external data location '${shown}' leaves the model's folder`);
  const inside = (root: string, target: string): boolean => {
    const rel = relative(root, target);
    return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
  };
  const dir = resolve(where.dir);
  const path = resolve(dir, location);
  if (!inside(dir, path)) fail(`external data location '${shown}' leaves the model's folder`);
  let realDir: string;
  let realPath: string;
  try {
    realDir = realpathSync(dir);
    realPath = realpathSync(path);
  } catch (e) {
    return fail(`external data file '${shown}' cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!inside(realDir, realPath)) fail(`external data location '${shown}' resolves outside the model's folder`);
  return realPath;
}

// ---- conversion ----

/** Converts a TensorProto (initializer, Constant value, attribute tensor) to a Tensor that owns its data. */
export function tensorFromProto(proto: onnx.ITensorProto, where: ProtoSource): Tensor {
  const checked = checkProto(proto, where);
  const { dtype, dims, count, source } = checked;
  const fail = (detail: string): never => { throw new FormatError(where.file, detail, checked.name); };
  let data: TensorDataByType[DType];
  switch (source.kind) {
    case 'empty':
      data = allocate(dtype, 0);
      break;
    case 'raw': {
      const copy = new Uint8Array(source.bytes.byteLength);
      copy.set(source.bytes);
      data = fromBytes(dtype as Exclude<DType, 'string'>, copy);
      break;
    }
    case 'external':
      data = fromBytes(dtype as Exclude<DType, 'string'>, readRange(source.path, source.offset, source.length, where.file, checked.name));
      break;
    case 'typed':
      data = fromTyped(dtype, count, source.field, source.values, fail);
      break;
  }
  if (dtype === 'bool') {
    const bytes = data as Uint8Array;
    for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 1) fail(`bool element ${i} is ${bytes[i]}, expected 0 or 1`);
  }
  return { dtype, dims, data };
}

/** Integer ranges for the dtypes packed into int32_data (float16/bfloat16 hold their 16-bit pattern). */
const INT32_RANGE: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127], int16: [-32768, 32767], int32: [-(2 ** 31), 2 ** 31 - 1], uint8: [0, 255], uint16: [0, 65535],
  bool: [0, 1], float16: [0, 65535], bfloat16: [0, 65535],
};

function fromTyped(dtype: DType, count: number, field: TypedField, values: readonly unknown[], fail: (d: string) => never): TensorDataByType[DType] {
  const bad = (i: number, v: unknown): never => fail(`${PROTO_FIELD_NAME[field]}[${i}] = ${String(v)} is not a valid ${dtype} value`);
  switch (field) {
    case 'floatData':
    case 'doubleData': {
      const out = allocate(dtype as 'float32' | 'float64', count);
      for (let i = 0; i < count; i++) {
        const v = values[i];
        if (typeof v !== 'number') bad(i, v);
        out[i] = v as number;
      }
      return out;
    }
    case 'int32Data': {
      const [lo, hi] = INT32_RANGE[dtype]!;
      const out = allocate(dtype as 'int32', count);
      for (let i = 0; i < count; i++) {
        const v = values[i];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(i, v);
        out[i] = v as number;
      }
      return out;
    }
    case 'int64Data':
    case 'uint64Data': {
      if (dtype === 'uint32') {
        const out = new Uint32Array(count);
        for (let i = 0; i < count; i++) {
          const v = int64ToBigInt(values[i] as Int64Like, true);
          if (v === undefined || v > 0xffffffffn) bad(i, values[i]);
          out[i] = Number(v);
        }
        return out;
      }
      const unsigned = dtype === 'uint64';
      const out = unsigned ? new BigUint64Array(count) : new BigInt64Array(count);
      for (let i = 0; i < count; i++) {
        const v = int64ToBigInt(values[i] as Int64Like, unsigned);
        if (v === undefined) bad(i, values[i]);
        out[i] = v!;
      }
      return out;
    }
    case 'stringData': {
      const decoder = new TextDecoder('utf-8', { fatal: true });
      const out = new Array<string>(count);
      for (let i = 0; i < count; i++) {
        const v = values[i];
        if (!(v instanceof Uint8Array)) bad(i, v);
        try {
          out[i] = decoder.decode(v as Uint8Array);
        } catch {
          fail(`string_data[${i}] is not valid UTF-8`);
        }
      }
      return out;
    }
  }
}

/** Reads exactly `length` bytes at `offset` of `path`, and nothing else of the file. */
function readRange(path: string, offset: number, length: number, file: string, label: string): Uint8Array {
  const out = new Uint8Array(length);
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    if (!fstatSync(fd).isFile()) throw new FormatError(file, `external data '${printable(path)}' is not a regular file`, label);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw new FormatError(file, `external data '${printable(path)}' ends after ${offset + done} bytes; needed ${offset + length}`, label);
      done += n;
    }
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(file, `external data '${printable(path)}' cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, label);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return out;
}

/** A TensorProto holding `tensor` (raw_data; string tensors use string_data), for tests and tools that write ONNX. */
export function tensorToProto(name: string, tensor: Tensor): onnx.ITensorProto {
  const proto: onnx.ITensorProto = { name, dataType: onnxFromDtype(tensor.dtype), dims: [...tensor.dims] };
  if (tensor.dtype === 'string') {
    const encoder = new TextEncoder();
    proto.stringData = (tensor.data as string[]).map((s) => encoder.encode(s));
  } else {
    const bytes = toBytes(tensor.data as Exclude<typeof tensor.data, string[]>);
    proto.rawData = bytes.slice();
  }
  return proto;
}
