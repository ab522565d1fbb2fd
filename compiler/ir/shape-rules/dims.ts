// Symbolic dimension arithmetic. A Dim is a number or a string; strings are symbols ('batch') or
// polynomials over symbols in a canonical expanded form ('2 * batch * sequence', 'past + sequence - 1').
// Operators are written with spaces around them, so symbol names may hold '/', '.', '-' or '*' themselves
// (fresh symbols carry node names: 'unk_/model/Reshape_0').
import type { Dim } from '../graph.ts';

/** Monomial key (symbols sorted, joined by ' * '; '' for the constant term) → coefficient. */
type Poly = Map<string, number>;

const NUMBER = /^-?\d+$/;

function splitTopLevel(s: string, separators: string[]): { sep: string; part: string }[] {
  const parts: { sep: string; part: string }[] = [];
  let depth = 0;
  let start = 0;
  let sep = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0) {
      const found = separators.find((x) => s.startsWith(x, i));
      if (found) {
        parts.push({ sep, part: s.slice(start, i) });
        sep = found;
        i += found.length - 1;
        start = i + 1;
      }
    }
  }
  parts.push({ sep, part: s.slice(start) });
  return parts;
}

/** '(a + b)' but not '(a) * (b)'. */
function isWrapped(s: string): boolean {
  if (!s.startsWith('(') || !s.endsWith(')')) return false;
  let depth = 0;
  for (let i = 0; i < s.length - 1; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')') depth--;
    if (depth === 0) return false;
  }
  return true;
}

function polyOf(d: Dim): Poly {
  if (typeof d === 'number') return new Map(d === 0 ? [] : [['', d]]);
  let result: Poly = new Map();
  for (const { sep, part } of splitTopLevel(d, [' + ', ' - '])) {
    let term: Poly = new Map([['', sep === ' - ' ? -1 : 1]]);
    for (const { part: factor } of splitTopLevel(part, [' * '])) {
      const f = factor.trim();
      let p: Poly;
      if (NUMBER.test(f)) p = polyOf(Number(f));
      else if (isWrapped(f)) p = polyOf(f.slice(1, -1));
      else p = new Map([[f, 1]]);
      term = polyMul(term, p);
    }
    result = polyAdd(result, term, 1);
  }
  return result;
}

function polyAdd(a: Poly, b: Poly, sign: number): Poly {
  const out = new Map(a);
  for (const [k, c] of b) {
    const v = (out.get(k) ?? 0) + sign * c;
    if (v === 0) out.delete(k);
    else out.set(k, v);
  }
  return out;
}

function keyMul(a: string, b: string): string {
  if (a === '') return b;
  if (b === '') return a;
  return [...a.split(' * '), ...b.split(' * ')].sort().join(' * ');
}

function polyMul(a: Poly, b: Poly): Poly {
  let out: Poly = new Map();
  for (const [ka, ca] of a) {
    for (const [kb, cb] of b) out = polyAdd(out, new Map([[keyMul(ka, kb), ca * cb]]), 1);
  }
  return out;
}

function degree(key: string): number {
  return key === '' ? 0 : key.split(' * ').length;
}

function dimOf(p: Poly): Dim {
  if (p.size === 0) return 0;
  if (p.size === 1 && p.has('')) return p.get('')!;
  const terms = [...p].sort(([a], [b]) => (degree(b) - degree(a)) || (a < b ? -1 : a > b ? 1 : 0));
  let out = '';
  terms.forEach(([key, coef], i) => {
    const mag = Math.abs(coef);
    const body = key === '' ? String(mag) : mag === 1 ? key : `${mag} * ${key}`;
    if (i === 0) out = coef < 0 ? (key === '' ? `-${mag}` : `-${mag} * ${key}`) : body;
    else out += (coef < 0 ? ' - ' : ' + ') + body;
  });
  return out;
}

/** The canonical spelling of a dim ('sequence + past' → 'past + sequence'). */
export function normalizeDim(d: Dim): Dim {
  return typeof d === 'number' ? d : dimOf(polyOf(d));
}

export function dimEquals(a: Dim, b: Dim): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return false;
  return normalizeDim(a) === normalizeDim(b);
}

export function dimAdd(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  return dimOf(polyAdd(polyOf(a), polyOf(b), 1));
}

export function dimSub(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return dimOf(polyAdd(polyOf(a), polyOf(b), -1));
}

export function dimMul(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  return dimOf(polyMul(polyOf(a), polyOf(b)));
}

export function dimProduct(dims: readonly Dim[]): Dim {
  return dims.reduce<Dim>((acc, d) => dimMul(acc, d), 1);
}

/** Exact division `a / b`, or undefined when it does not divide evenly (or symbolically). */
export function dimDiv(a: Dim, b: Dim): Dim | undefined {
  if (typeof a === 'number' && typeof b === 'number') return b !== 0 && a % b === 0 ? a / b : undefined;
  const pa = polyOf(a);
  const pb = polyOf(b);
  if (pb.size !== 1) return dimEquals(a, b) ? 1 : undefined;
  const [[kb, cb]] = [...pb];
  const divisor = kb === '' ? [] : kb.split(' * ');
  const out: Poly = new Map();
  for (const [ka, ca] of pa) {
    if (ca % cb !== 0) return undefined;
    const rest = ka === '' ? [] : ka.split(' * ');
    for (const s of divisor) {
      const at = rest.indexOf(s);
      if (at < 0) return undefined;
      rest.splice(at, 1);
    }
    out.set(rest.join(' * '), ca / cb);
  }
  return dimOf(out);
}

/** Symbols that inference made up for dims it could not know: `unk_<node>_<i>`. */
export function isFreshDim(d: Dim): boolean {
  return typeof d === 'string' && d.startsWith('unk_');
}

/** The value of `d` once its symbols are bound (`{ batch: 1, sequence: 7 }`); undefined if one is missing. */
export function evalDim(d: Dim, bindings: Readonly<Record<string, number>>): number | undefined {
  if (typeof d === 'number') return d;
  let total = 0;
  for (const [key, coef] of polyOf(d)) {
    let term = coef;
    for (const s of key === '' ? [] : key.split(' * ')) {
      const v = bindings[s];
      if (v === undefined) return undefined;
      term *= v;
    }
    total += term;
  }
  return total;
}

export function formatShape(shape: readonly Dim[] | undefined): string {
  return shape ? `[${shape.join(',')}]` : '[?]';
}
