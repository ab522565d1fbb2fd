// Symbolic dims as the compiler writes them: a size, a symbol ('sequence') or a polynomial over symbols in
// canonical form ('2 * batch * sequence', 'past + sequence - 1'; operators spaced, so names may hold '-').

/** The value of `dim` with its symbols bound, or undefined when a symbol is unbound or the form is unknown. */
export function evaluateDim(dim: number | string, symbols: ReadonlyMap<string, number>): number | undefined {
  if (typeof dim === 'number') return dim;
  const direct = symbols.get(dim);
  if (direct !== undefined) return direct;
  let total = 0;
  let sign = 1;
  for (const part of dim.split(/ ([+-]) /)) {
    if (part === '+' || part === '-') { sign = part === '+' ? 1 : -1; continue; }
    let term = 1;
    for (const factor of part.split(' * ')) {
      const value = /^-?\d+$/.test(factor) ? Number(factor) : symbols.get(factor);
      if (value === undefined) return undefined;
      term *= value;
    }
    total += sign * term;
  }
  return total;
}

/** The symbols a dim mentions. */
export function symbolsOf(dim: number | string): string[] {
  if (typeof dim === 'number') return [];
  return dim.split(/ [+-] /).flatMap((t) => t.split(' * ')).filter((f) => !/^-?\d+$/.test(f));
}
