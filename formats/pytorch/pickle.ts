// A restricted unpickler for `torch.save` state dicts: it builds plain data and NEVER executes anything.
//
// Python's pickle is a small stack machine whose GLOBAL/REDUCE/BUILD opcodes import and call arbitrary functions;
// here GLOBAL only resolves an explicit allow-list to inert tags (collections.OrderedDict, torch._utils'
// _rebuild_tensor_v2/_rebuild_parameter and torch's storage classes), REDUCE only applies those tags to build
// plain values (a Map, a tensor descriptor), and BINPERSID only makes storage references. Any other global,
// any object-building opcode (INST, OBJ, NEWOBJ, EXT*, …) and any unknown opcode throws one FormatError line.
// Nothing is ever looked up on a JS object by a name read from the pickle. Stack, memo and marks are bounded.
//
// Values: None → null, bool → boolean, int → number (bigint beyond 2^53), float → number, str → string,
// bytes → Uint8Array, list → array, tuple → frozen array, dict / OrderedDict → Map (insertion order kept).
import type { DType } from '../dtype.ts';
import { FormatError } from '../errors.ts';

/** A torch storage class (`torch.FloatStorage`, …): the dtype of a storage record's elements. */
export const TORCH_STORAGE_DTYPES: ReadonlyMap<string, Exclude<DType, 'string'>> = new Map([
  ['FloatStorage', 'float32'], ['DoubleStorage', 'float64'], ['HalfStorage', 'float16'], ['BFloat16Storage', 'bfloat16'],
  ['CharStorage', 'int8'], ['ByteStorage', 'uint8'], ['ShortStorage', 'int16'], ['IntStorage', 'int32'],
  ['LongStorage', 'int64'], ['BoolStorage', 'bool'],
] as const);

/** An allow-listed global, as an inert tag. */
export type PickleGlobal =
  | { readonly kind: 'global'; readonly module: string; readonly name: string; readonly role: 'OrderedDict' | 'rebuild_tensor_v2' | 'rebuild_parameter' }
  | { readonly kind: 'global'; readonly module: string; readonly name: string; readonly role: 'storage'; readonly dtype: Exclude<DType, 'string'> };

/** A storage named by a persistent id: `('storage', torch.<X>Storage, key, location, numel)`. */
export interface TorchStorageRef {
  readonly kind: 'storage';
  /** The record holding the storage's bytes: `<prefix>/data/<key>`. */
  readonly key: string;
  /** The storage class name, e.g. 'FloatStorage'. */
  readonly storageType: string;
  readonly dtype: Exclude<DType, 'string'>;
  /** Where it lived when saved ('cpu', 'cuda:0', …); irrelevant for reading. */
  readonly location: string;
  /** Elements of the storage. */
  readonly numel: number;
}

/** `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`. */
export interface TorchTensorRef {
  readonly kind: 'tensor';
  readonly storage: TorchStorageRef;
  /** In elements of the storage. */
  readonly storageOffset: number;
  readonly size: readonly number[];
  /** In elements. */
  readonly stride: readonly number[];
  readonly requiresGrad: boolean;
}

export type PickleKey = string | number | bigint | boolean | null;
export type PickleValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PickleValue[] | readonly PickleValue[]
  | Map<PickleKey, PickleValue>
  | PickleGlobal | TorchStorageRef | TorchTensorRef;

export interface UnpickleLimits {
  /** Stack entries, at most. */
  maxStack?: number;
  /** Memo entries, at most. */
  maxMemo?: number;
  /** Nested MARKs, at most. */
  maxMarks?: number;
  /** Elements of one container, at most. */
  maxContainer?: number;
}

export const DEFAULT_LIMITS: Readonly<Required<UnpickleLimits>> = Object.freeze({
  maxStack: 1 << 20, maxMemo: 1 << 22, maxMarks: 1 << 10, maxContainer: 1 << 24,
});

const REFUSAL = '(only state-dict tensors can be read)';

// Allow-listed globals, keyed "module\nname" in a Map (never an object lookup).
const ALLOWED = new Map<string, PickleGlobal>();
function allow(g: PickleGlobal): void {
  ALLOWED.set(`${g.module}\n${g.name}`, Object.freeze(g));
}
allow({ kind: 'global', module: 'collections', name: 'OrderedDict', role: 'OrderedDict' });
allow({ kind: 'global', module: 'torch._utils', name: '_rebuild_tensor_v2', role: 'rebuild_tensor_v2' });
allow({ kind: 'global', module: 'torch._utils', name: '_rebuild_parameter', role: 'rebuild_parameter' });
for (const [name, dtype] of TORCH_STORAGE_DTYPES) allow({ kind: 'global', module: 'torch', name, role: 'storage', dtype });

/** The names of the pickle opcodes, for messages. */
const OPCODE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
});

/** A string from the pickle, safe to print on one line. */
function show(s: string): string {
  // eslint-disable-next-line no-control-regex
  const escaped = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return escaped.length > 120 ? `${escaped.slice(0, 117)}...` : escaped;
}

function describe(v: PickleValue | typeof MARK): string {
  if (v === MARK) return 'a MARK';
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'a bool';
  if (typeof v === 'number' || typeof v === 'bigint') return Number.isInteger(v) || typeof v === 'bigint' ? 'an int' : 'a float';
  if (typeof v === 'string') return 'a str';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'a tuple' : 'a list';
  if (v instanceof Map) return 'a dict';
  const tagged = v as PickleGlobal | TorchStorageRef | TorchTensorRef;
  if (tagged.kind === 'global') return `${tagged.module}.${tagged.name}`;
  return `a ${tagged.kind}`;
}

const MARK: unique symbol = Symbol('MARK');
type Slot = PickleValue | typeof MARK;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isTuple(v: Slot): v is readonly PickleValue[] {
  return Array.isArray(v) && Object.isFrozen(v);
}
function isInt(v: Slot): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}
function isTagged<K extends string>(v: Slot, kind: K): v is Extract<PickleGlobal | TorchStorageRef | TorchTensorRef, { kind: K }> {
  return typeof v === 'object' && v !== null && !(v instanceof Map) && !(v instanceof Uint8Array) && !Array.isArray(v) && (v as { kind?: unknown }).kind === kind;
}

/**
 * Unpickles `bytes` (a torch.save `data.pkl`) into plain values. `file` names the checkpoint in messages.
 * Throws FormatError for anything that is not plain data plus the allow-listed torch/collections globals.
 */
export function unpickle(bytes: Uint8Array, file: string, limits: UnpickleLimits = {}): PickleValue {
  const { maxStack, maxMemo, maxMarks, maxContainer } = { ...DEFAULT_LIMITS, ...limits };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Slot[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = 0;
  let at = 0; // where the current opcode starts

  const fail = (detail: string): never => { throw new FormatError(file, detail); };
  const corrupt = (what: string): never => fail(`pickle is corrupt: ${what} (opcode ${OPCODE_NAMES[bytes[at]!] ?? '?'} at byte ${at})`);
  const refuseGlobal = (module: string, name: string): never => fail(`pickle refers to ${show(module)}.${show(name)}, which is not allowed ${REFUSAL}`);

  const need = (n: number): void => { if (n < 0 || pos + n > bytes.byteLength) corrupt(`it ends after ${bytes.byteLength} bytes, ${n} more needed`); };
  const u8 = (): number => { need(1); return bytes[pos++]!; };
  const u16 = (): number => { need(2); const v = view.getUint16(pos, true); pos += 2; return v; };
  const u32 = (): number => { need(4); const v = view.getUint32(pos, true); pos += 4; return v; };
  const u64 = (): number => {
    need(8);
    const low = view.getUint32(pos, true);
    const high = view.getUint32(pos + 4, true);
    pos += 8;
    if (high >= 2 ** 21) corrupt('a length beyond 2^53');
    return high * 2 ** 32 + low;
  };
  const take = (n: number): Uint8Array => { need(n); const out = bytes.slice(pos, pos + n); pos += n; return out; };
  const text = (n: number): string => {
    need(n);
    try {
      return utf8.decode(bytes.subarray(pos, pos += n));
    } catch {
      return corrupt('a str that is not valid UTF-8');
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 1024) corrupt('a text line without its newline');
    const s = String.fromCharCode(...bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };

  const push = (v: Slot): void => {
    if (stack.length >= maxStack) fail(`pickle needs more than ${maxStack} stack entries; refused`);
    stack.push(v);
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined) return corrupt('the stack is empty');
    if (v === MARK) return corrupt('a MARK where a value was expected');
    return v;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined) return corrupt('the stack is empty');
    if (v === MARK) return corrupt('a MARK where a value was expected');
    return v;
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) return corrupt('no MARK to pop to');
    const items = stack.splice(m) as PickleValue[];
    if (stack.pop() !== MARK) corrupt('a MARK is missing');
    return items;
  };
  const tuple = (items: PickleValue[]): readonly PickleValue[] => Object.freeze(items);
  const memoPut = (index: number, v: PickleValue): void => {
    if (!memo.has(index) && memo.size >= maxMemo) fail(`pickle memoizes more than ${maxMemo} values; refused`);
    memo.set(index, v);
  };
  const memoGet = (index: number): PickleValue => {
    const v = memo.get(index);
    if (v === undefined) return corrupt(`memo entry ${index} is not defined`);
    return v;
  };
  const asKey = (k: PickleValue): PickleKey => {
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return k;
    return corrupt(`a dict key that is ${describe(k)} (only str, int, float, bool and None keys are supported)`);
  };
  const setItems = (target: PickleValue, pairs: PickleValue[]): void => {
    if (!(target instanceof Map)) return fail(`pickle sets items on ${describe(target)}, which is not allowed ${REFUSAL}`);
    if (pairs.length % 2 !== 0) corrupt('SETITEMS with an odd number of values');
    if (target.size + pairs.length / 2 > maxContainer) fail(`pickle builds a dict of more than ${maxContainer} items; refused`);
    for (let i = 0; i < pairs.length; i += 2) target.set(asKey(pairs[i]!), pairs[i + 1]!);
  };
  const append = (target: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(target) || Object.isFrozen(target)) return fail(`pickle appends to ${describe(target)}, which is not allowed ${REFUSAL}`);
    if (target.length + items.length > maxContainer) fail(`pickle builds a list of more than ${maxContainer} items; refused`);
    for (const item of items) (target as PickleValue[]).push(item);
  };
  const resolveGlobal = (module: string, name: string): PickleGlobal => ALLOWED.get(`${module}\n${name}`) ?? refuseGlobal(module, name);

  const reduce = (fn: PickleValue, args: PickleValue): PickleValue => {
    if (!isTagged(fn, 'global')) return fail(`pickle calls ${describe(fn)}, which is not allowed ${REFUSAL}`);
    if (!isTuple(args)) return corrupt(`${fn.module}.${fn.name} called with ${describe(args)} instead of a tuple`);
    switch (fn.role) {
      case 'OrderedDict': {
        const map = new Map<PickleKey, PickleValue>();
        if (args.length === 0) return map;
        const items = args[0];
        if (args.length !== 1 || !Array.isArray(items)) return corrupt('OrderedDict called with arguments other than () or ([pairs])');
        for (const pair of items as PickleValue[]) {
          if (!Array.isArray(pair) || pair.length !== 2) return corrupt('OrderedDict called with an item that is not a pair');
          setItems(map, [...(pair as PickleValue[])]);
        }
        return map;
      }
      case 'rebuild_tensor_v2': {
        const [storage, offset, size, stride, requiresGrad] = args;
        const ints = (v: PickleValue | undefined): v is readonly number[] => isTuple(v ?? null) && (v as readonly PickleValue[]).every((x) => isInt(x) && x >= 0);
        if (args.length < 6 || args.length > 7 || !isTagged(storage ?? null, 'storage') || !isInt(offset ?? null) || (offset as number) < 0
          || !ints(size) || !ints(stride) || size.length !== stride.length || typeof requiresGrad !== 'boolean') {
          return corrupt('_rebuild_tensor_v2 called with arguments other than (storage, offset, size, stride, requires_grad, hooks[, metadata])');
        }
        return Object.freeze({
          kind: 'tensor', storage: storage as TorchStorageRef, storageOffset: offset as number,
          size: Object.freeze([...size]), stride: Object.freeze([...stride]), requiresGrad,
        }) satisfies TorchTensorRef;
      }
      case 'rebuild_parameter': {
        const [data, requiresGrad] = args;
        if (args.length !== 3 || !isTagged(data ?? null, 'tensor') || typeof requiresGrad !== 'boolean') {
          return corrupt('_rebuild_parameter called with arguments other than (tensor, requires_grad, hooks)');
        }
        return Object.freeze({ ...(data as TorchTensorRef), requiresGrad });
      }
      case 'storage':
        return fail(`pickle calls ${fn.module}.${fn.name}, which is not allowed ${REFUSAL}`);
    }
  };

  const persistent = (pid: PickleValue): TorchStorageRef => {
    if (!isTuple(pid) || pid.length !== 5 || pid[0] !== 'storage') {
      return fail(`pickle has a persistent id that is ${describe(pid)}${isTuple(pid) && typeof pid[0] === 'string' ? ` ('${show(pid[0])}', …)` : ''}; only ('storage', type, key, location, numel) is allowed ${REFUSAL}`);
    }
    const [, type, key, location, numel] = pid;
    if (!isTagged(type ?? null, 'global') || (type as PickleGlobal).role !== 'storage') {
      return fail(`pickle has a storage of type ${describe(type ?? null)}, which is not allowed ${REFUSAL}`);
    }
    if ((typeof key !== 'string' && !isInt(key ?? null)) || typeof location !== 'string' || !isInt(numel ?? null) || (numel as number) < 0) {
      return corrupt("a storage persistent id other than ('storage', type, key: str, location: str, numel: int)");
    }
    const g = type as Extract<PickleGlobal, { role: 'storage' }>;
    return Object.freeze({ kind: 'storage', key: String(key), storageType: g.name, dtype: g.dtype, location, numel: numel as number });
  };

  for (;;) {
    at = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const v = u8();
        if (v > 5) corrupt(`pickle protocol ${v} (at most 5 is known)`);
        break;
      }
      case 0x95: u64(); break; // FRAME: a framing hint, nothing to do
      case 0x2e: { // STOP
        const result = pop();
        if (stack.length !== 0 || marks.length !== 0) corrupt('values left on the stack at STOP');
        return result;
      }
      case 0x28: // MARK
        if (marks.length >= maxMarks) fail(`pickle nests more than ${maxMarks} MARKs; refused`);
        push(MARK);
        marks.push(stack.length);
        break;
      case 0x30: { // POP
        if (stack[stack.length - 1] === MARK) popMark(); else pop();
        break;
      }
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x4a: { need(4); push(view.getInt32(pos, true)); pos += 4; break; } // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: case 0x8b: { // LONG1, LONG4: little-endian two's complement
        const n = op === 0x8a ? u8() : u32();
        if (n > 64) fail(`pickle has an integer of ${n} bytes; refused`);
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: { need(8); push(view.getFloat64(pos, false)); pos += 8; break; } // BINFLOAT (big-endian)
      case 0x58: push(text(u32())); break; // BINUNICODE
      case 0x8c: push(text(u8())); break; // SHORT_BINUNICODE
      case 0x8d: push(text(u64())); break; // BINUNICODE8
      case 0x54: case 0x55: { // BINSTRING, SHORT_BINSTRING (Python 2 str): bytes as Latin-1
        const n = op === 0x55 ? u8() : u32();
        if (n >= 2 ** 31) corrupt('a negative string length');
        push(String.fromCharCode(...take(n)));
        break;
      }
      case 0x43: push(take(u8())); break; // SHORT_BINBYTES
      case 0x42: push(take(u32())); break; // BINBYTES
      case 0x8e: case 0x96: push(take(u64())); break; // BINBYTES8, BYTEARRAY8
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x29: push(tuple([])); break; // EMPTY_TUPLE
      case 0x74: push(tuple(popMark())); break; // TUPLE
      case 0x85: push(tuple([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push(tuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push(tuple([a, b, c])); break; } // TUPLE3
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); append(top(), items); break; } // APPENDS
      case 0x71: memoPut(u8(), top()); break; // BINPUT
      case 0x72: memoPut(u32(), top()); break; // LONG_BINPUT
      case 0x94: memoPut(memo.size, top()); break; // MEMOIZE
      case 0x68: push(memoGet(u8())); break; // BINGET
      case 0x6a: push(memoGet(u32())); break; // LONG_BINGET
      case 0x63: { // GLOBAL module\nname\n
        const module = line();
        const name = line();
        push(resolveGlobal(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') corrupt('STACK_GLOBAL without two strs');
        push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x69: { // INST module\nname\n: builds an object by calling the class; never allowed
        const module = line();
        const name = line();
        refuseGlobal(module, name);
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); push(reduce(fn, args)); break; } // REDUCE
      case 0x51: push(persistent(pop())); break; // BINPERSID
      case 0x62: { // BUILD: only attribute state on a dict (torch's OrderedDict `_metadata`), which is dropped
        const state = pop();
        const target = top();
        const plain = (s: PickleValue): boolean => s === null || s instanceof Map;
        if (!(target instanceof Map) || !(plain(state) || (isTuple(state) && state.length === 2 && plain(state[0]!) && plain(state[1]!)))) {
          fail(`pickle sets the state of ${describe(target)} from ${describe(state)}, which is not allowed ${REFUSAL}`);
        }
        break;
      }
      default: {
        const name = OPCODE_NAMES[op];
        if (name) fail(`pickle uses opcode ${name} (0x${op.toString(16)}) at byte ${at}, which is not allowed ${REFUSAL}`);
        fail(`pickle has an unknown opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}, which is not allowed ${REFUSAL}`);
      }
    }
  }
}
