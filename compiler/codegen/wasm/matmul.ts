// fp32 matrix-multiply kernels (WASM SIMD128) for model.wasm.
//
//  - addMatMulConstB: y[rows, n] = a[rows, k] · B[k, n] (+ bias[n]) with B a constant in linear memory and
//    k, n known at compile time (Linears kept in full precision). One row (GEMV, memory-bound) streams B
//    once, GEMV_P rows of B at a time, contiguously, into y (in L1). More rows: chunks of rows whose y fits
//    L2; per chunk, k is walked in KC-long slices and, per slice and block of ROWS rows, a sweep over the
//    columns keeps a ROWS × 4·VECS tile of y in registers (each B load feeds ROWS rows) while the slice's
//    KC rows of B are read sequentially side by side (prefetch-friendly; strided column panels are not).
//  - addBatchedMatMul: y[t] = a[t] · b[t] for t < batch with runtime m, k, n and element strides between
//    the batch's matrices (0 broadcasts one matrix); used for activation × activation products.
//
// Every column tail (n not a multiple of 4) is done with partial lane loads/stores, never by reading or
// writing past a row's end. Loads only assume 4-byte alignment. Nothing is allocated.
import binaryen from 'binaryen';

type Ref = binaryen.ExpressionRef;
type Width = 1 | 2 | 3 | 4;

/** Rows of y kept in registers by the blocked kernels. */
const ROWS = 4;
/** v128 columns of y per register tile of ROWS rows (ROWS × VECS accumulators). */
const VECS = 2;
/** v128 columns per register tile when a single row is left (batched kernel). */
const VECS_ONE_ROW = 4;
/** Length of a k slice in the constant-B kernel: KC rows of B are streamed side by side. */
const KC = 16;
/** Bytes of y per chunk of rows in the constant-B kernel (kept in L2 while k is walked). */
const Y_CHUNK_BYTES = 512 * 1024;
/** Rows of B combined per pass of the GEMV (each pass reads and writes y once). */
const GEMV_P = 4;
/** v128 columns per iteration of the GEMV inner loop. */
const GEMV_UNROLL = 2;

class Local {
  constructor(private readonly mod: binaryen.Module, readonly index: number, readonly type: binaryen.Type) {}
  get(): Ref { return this.mod.local.get(this.index, this.type); }
  set(value: Ref): Ref { return this.mod.local.set(this.index, value); }
}

/** Locals and labels of one function being generated. */
class Fn {
  readonly vars: binaryen.Type[] = [];
  private labels = 0;
  constructor(readonly mod: binaryen.Module, private readonly paramCount: number) {}
  param(index: number): Local { return new Local(this.mod, index, binaryen.i32); }
  i32(): Local { return this.local(binaryen.i32); }
  v128(): Local { return this.local(binaryen.v128); }
  private local(type: binaryen.Type): Local {
    this.vars.push(type);
    return new Local(this.mod, this.paramCount + this.vars.length - 1, type);
  }
  label(prefix: string): string { return `${prefix}${this.labels++}`; }
}

/** Byte distance between consecutive rows: a compile-time constant or runtime locals holding r·stride. */
type RowStride = { bytes: number } | { offsets: Local[] /* offsets[r] = r·stride for r ≥ 1 */ };

/**
 * Exports `name(a, y, rows)`: y f32[rows, n] = a f32[rows, k] · B (+ bias), B f32[k, n] row-major at byte
 * offset `b` and bias f32[n] at byte offset `bias` (both constants in linear memory; k, n fixed here).
 */
export function addMatMulConstB(mod: binaryen.Module, name: string, spec: { k: number; n: number; b: number; bias?: number }): void {
  const { k, n, b, bias } = spec;
  for (const [what, v] of [['k', k], ['n', n]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`addMatMulConstB: ${what} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(b) || b < 0 || b % 4 !== 0) throw new RangeError(`addMatMulConstB: bad B offset ${b}`);
  if (bias !== undefined && (!Number.isInteger(bias) || bias < 0 || bias % 4 !== 0)) throw new RangeError(`addMatMulConstB: bad bias offset ${bias}`);
  const f = new Fn(mod, 3);
  const g = new Gen(f);
  const a = f.param(0);
  const y = f.param(1);
  const rows = f.param(2);
  const c = (v: number) => g.c(v);
  const add = (x: Ref, z: Ref) => mod.i32.add(x, z);
  const kb = k * 4;
  const nb = n * 4;
  const n4 = n - (n % 4);

  const rm = f.i32(); // rows in full blocks of ROWS
  const rt = f.i32(); // rows left over (< ROWS)
  const pcb = f.i32(); // byte offset of the current k slice within a row of a
  const kcb = f.i32(); // bytes of the k slice
  const bSlice = f.i32(); // address of B[pc, 0]
  const ra = f.i32();
  const ry = f.i32();
  const ryEnd = f.i32();
  const jb = f.i32();
  const done = f.label('done');

  /** One pass over k in slices of `slice` elements: `body` runs per slice. */
  const kSlices = (slice: number, body: Ref[]): Ref => mod.block(null, [
    pcb.set(c(0)),
    g.doWhile([
      kcb.set(mod.select(mod.i32.lt_u(mod.i32.sub(c(kb), pcb.get()), c(slice * 4)), mod.i32.sub(c(kb), pcb.get()), c(slice * 4))),
      bSlice.set(add(c(b), mod.i32.mul(pcb.get(), c(n)))),
      ...body,
      pcb.set(add(pcb.get(), c(slice * 4))),
    ], () => mod.i32.lt_u(pcb.get(), c(kb))),
  ]);
  const tile = (R: number, vecs: number, w: Width, col: () => Ref, init: Init): Ref => g.tile({
    rows: R, vecs, w, init,
    a: () => ra.get(), b: () => add(bSlice.get(), col()), y: () => add(ry.get(), col()),
    aStride: { bytes: kb }, bStride: { bytes: nb }, kBytes: () => kcb.get(),
  });
  /** Every column of the R rows at ra/ry (one k slice). */
  const acrossColumns = (R: number, init: Init): Ref[] => {
    const vecs = R === 1 ? VECS_ONE_ROW : VECS;
    const out: Ref[] = [];
    const blocks = Math.floor(n4 / (4 * vecs));
    if (blocks > 0) {
      out.push(jb.set(c(0)), g.doWhile([
        tile(R, vecs, 4, () => jb.get(), init),
        jb.set(add(jb.get(), c(16 * vecs))),
      ], () => mod.i32.lt_u(jb.get(), c(blocks * 16 * vecs))));
    }
    for (let col = blocks * 4 * vecs; col < n4; col += 4) out.push(tile(R, 1, 4, () => c(col * 4), init));
    if (n % 4) out.push(tile(R, 1, (n % 4) as Width, () => c(n4 * 4), init));
    return out;
  };
  const body: Ref[] = [mod.br(done, mod.i32.le_s(rows.get(), c(0)))];

  // rows = 1: GEMV streaming B once, row by row
  const ga = f.i32();
  const gy = f.i32();
  body.push(mod.if(mod.i32.eq(rows.get(), c(1)), mod.block(null, [
    ga.set(a.get()),
    gy.set(y.get()),
    g.gemvRow(ga, gy, k, n, b, bias),
    mod.br(done),
  ])));

  // more rows: chunks of up to `chunk` rows (their y stays in L2). Per chunk, k is walked in slices of
  // KC; per slice and block of ROWS rows, a sweep over all columns keeps ROWS × 4·VECS of y in registers
  // and reads the slice's B rows sequentially, side by side (prefetch-friendly), accumulating into y.
  const chunk = Math.max(ROWS, Math.floor(Y_CHUNK_BYTES / nb / ROWS) * ROWS);
  const ca = f.i32(); // a and y of the current chunk
  const cy = f.i32();
  const yEnd = f.i32();
  const cr = f.i32(); // rows in the chunk
  body.push(
    ca.set(a.get()),
    cy.set(y.get()),
    yEnd.set(add(y.get(), mod.i32.mul(rows.get(), c(nb)))),
    g.doWhile([
      cr.set(mod.i32.div_u(mod.i32.sub(yEnd.get(), cy.get()), c(nb))),
      cr.set(mod.select(mod.i32.lt_u(cr.get(), c(chunk)), cr.get(), c(chunk))),
      rm.set(mod.i32.and(cr.get(), c(-ROWS))),
      rt.set(mod.i32.sub(cr.get(), rm.get())),
      // y of the chunk = bias or 0
      ry.set(cy.get()),
      ryEnd.set(add(cy.get(), mod.i32.mul(cr.get(), c(nb)))),
      g.doWhile([g.initRow(ry, n, bias), ry.set(add(ry.get(), c(nb)))], () => mod.i32.lt_u(ry.get(), ryEnd.get())),
      kSlices(KC, [
        ra.set(add(ca.get(), pcb.get())),
        ry.set(cy.get()),
        ryEnd.set(add(cy.get(), mod.i32.mul(rm.get(), c(nb)))),
        g.whileLoop(() => mod.i32.lt_u(ry.get(), ryEnd.get()), [
          ...acrossColumns(ROWS, 'y'),
          ra.set(add(ra.get(), c(ROWS * kb))),
          ry.set(add(ry.get(), c(ROWS * nb))),
        ]),
        g.byCount(rt, ROWS - 1, (R) => mod.block(null, acrossColumns(R, 'y'))),
      ]),
      ca.set(add(ca.get(), c(chunk * kb))),
      cy.set(add(cy.get(), c(chunk * nb))),
    ], () => mod.i32.lt_u(cy.get(), yEnd.get())),
  );

  mod.addFunction(name, binaryen.createType([binaryen.i32, binaryen.i32, binaryen.i32]), binaryen.none, f.vars, mod.block(done, body));
  mod.addFunctionExport(name, name);
}

/**
 * Exports `name(a, b, y, batch, m, k, n, aStride, bStride)`: for t < batch, y[t] (m×n) = a[t] (m×k) · b[t]
 * (k×n), with a[t] at a + 4·t·aStride, b[t] at b + 4·t·bStride (strides in elements, 0 broadcasts) and y[t]
 * at y + 4·t·m·n. Pointers need only 4-byte alignment. batch, m or n ≤ 0: nothing; k ≤ 0: y = 0.
 */
export function addBatchedMatMul(mod: binaryen.Module, name: string): void {
  const f = new Fn(mod, 9);
  const g = new Gen(f);
  const [a, b, y, batch, m, k, n, aStride, bStride] = Array.from({ length: 9 }, (_, i) => f.param(i)) as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const c = (v: number) => g.c(v);
  const add = (x: Ref, z: Ref) => mod.i32.add(x, z);
  const mul = (x: Ref, z: Ref) => mod.i32.mul(x, z);
  const kb = f.i32();
  const nb = f.i32();
  const aS = f.i32();
  const bS = f.i32();
  const yS = f.i32();
  const aOff = [kb, ...Array.from({ length: ROWS - 1 }, () => f.i32())];
  const nOff = [nb, ...Array.from({ length: ROWS - 1 }, () => f.i32())];
  const rm = f.i32(); // rows in full blocks
  const n4b = f.i32(); // bytes of the columns in full v128s
  const w = f.i32(); // n % 4
  const pa = f.i32();
  const pb = f.i32();
  const py = f.i32();
  const pyEnd = f.i32();
  const ra = f.i32();
  const ry = f.i32();
  const ryEnd = f.i32();
  const jb = f.i32();
  const done = f.label('done');

  const body: Ref[] = [
    mod.br(done, mod.i32.or(mod.i32.or(mod.i32.le_s(batch.get(), c(0)), mod.i32.le_s(m.get(), c(0))), mod.i32.le_s(n.get(), c(0)))),
    yS.set(mul(mul(m.get(), n.get()), c(4))),
    mod.if(mod.i32.le_s(k.get(), c(0)), mod.block(null, [
      // empty inner dimension: y = 0
      pa.set(y.get()),
      pyEnd.set(add(y.get(), mul(yS.get(), batch.get()))),
      g.doWhile([mod.f32.store(0, 4, pa.get(), mod.f32.const(0)), pa.set(add(pa.get(), c(4)))], () => mod.i32.lt_u(pa.get(), pyEnd.get())),
      mod.br(done),
    ])),
    kb.set(mul(k.get(), c(4))),
    nb.set(mul(n.get(), c(4))),
    aS.set(mul(aStride.get(), c(4))),
    bS.set(mul(bStride.get(), c(4))),
    ...aOff.slice(1).map((l, i) => l.set(mul(kb.get(), c(i + 2)))),
    ...nOff.slice(1).map((l, i) => l.set(mul(nb.get(), c(i + 2)))),
    rm.set(mod.i32.sub(m.get(), mod.i32.rem_u(m.get(), c(ROWS)))),
    w.set(mod.i32.and(n.get(), c(3))),
    n4b.set(mul(mod.i32.sub(n.get(), w.get()), c(4))),
  ];
  const rowStride = (offs: Local[]): RowStride => ({ offsets: [offs[0]!, ...offs] }); // offsets[r] = r·stride

  /** All column blocks of the rows starting at ra/ry, with `rows` rows in registers and `vecs` v128s per tile. */
  const columns = (rows: number, vecs: number): Ref[] => {
    const tile = (v: number, wd: Width, col: () => Ref): Ref => g.tile({
      rows, vecs: v, w: wd, init: 'zero',
      a: () => ra.get(), b: () => add(pb.get(), col()), y: () => add(ry.get(), col()),
      aStride: rowStride(aOff), bStride: rowStride(nOff), kBytes: () => kb.get(),
    });
    const blockBytes = 16 * vecs;
    const out: Ref[] = [jb.set(c(0))];
    // column blocks of `vecs` v128s: while jb + blockBytes <= n4b
    out.push(g.whileLoop(() => mod.i32.le_u(add(jb.get(), c(blockBytes)), n4b.get()), [
      tile(vecs, 4, () => jb.get()),
      jb.set(add(jb.get(), c(blockBytes))),
    ]));
    if (vecs > 1) {
      out.push(g.whileLoop(() => mod.i32.lt_u(jb.get(), n4b.get()), [
        tile(1, 4, () => jb.get()),
        jb.set(add(jb.get(), c(16))),
      ]));
    }
    out.push(mod.if(mod.i32.eq(w.get(), c(1)), tile(1, 1, () => n4b.get()),
      mod.if(mod.i32.eq(w.get(), c(2)), tile(1, 2, () => n4b.get()),
        mod.if(mod.i32.eq(w.get(), c(3)), tile(1, 3, () => n4b.get())))));
    return out;
  };

  const perMatrix: Ref[] = [
    // row blocks of ROWS rows
    ra.set(pa.get()),
    ry.set(py.get()),
    ryEnd.set(add(py.get(), mul(rm.get(), nb.get()))),
    g.whileLoop(() => mod.i32.lt_u(ry.get(), ryEnd.get()), [
      ...columns(ROWS, VECS),
      ra.set(add(ra.get(), aOff[ROWS - 1]!.get())), // ROWS·k·4
      ry.set(add(ry.get(), nOff[ROWS - 1]!.get())),
    ]),
    // remaining rows one at a time
    ryEnd.set(add(py.get(), yS.get())),
    g.whileLoop(() => mod.i32.lt_u(ry.get(), ryEnd.get()), [
      ...columns(1, VECS_ONE_ROW),
      ra.set(add(ra.get(), kb.get())),
      ry.set(add(ry.get(), nb.get())),
    ]),
  ];
  body.push(
    pa.set(a.get()),
    pb.set(b.get()),
    py.set(y.get()),
    pyEnd.set(add(y.get(), mul(yS.get(), batch.get()))),
    g.doWhile([
      ...perMatrix,
      pa.set(add(pa.get(), aS.get())),
      pb.set(add(pb.get(), bS.get())),
      py.set(add(py.get(), yS.get())),
    ], () => mod.i32.lt_u(py.get(), pyEnd.get())),
  );
  const params = binaryen.createType(Array.from({ length: 9 }, () => binaryen.i32));
  mod.addFunction(name, params, binaryen.none, f.vars, mod.block(done, body));
  mod.addFunctionExport(name, name);
}

/** Accumulators start at 0, or at y (accumulating over k slices). */
type Init = 'zero' | 'y';

interface TileSpec {
  rows: number;
  vecs: number;
  /** Columns used in the last v128 (4 = full; 1–3 only with vecs = 1). */
  w: Width;
  init: Init;
  /** Address of a[row0, p0]. */
  a: () => Ref;
  /** Address of B[p0, j0]. */
  b: () => Ref;
  /** Address of y[row0, j0]. */
  y: () => Ref;
  aStride: RowStride;
  /** Row stride of B, also that of y (both have n columns). */
  bStride: RowStride;
  /** Bytes of the k range (≥ 4). */
  kBytes: () => Ref;
}

/** Expression builders over one function. Every call builds fresh nodes. */
class Gen {
  readonly mod: binaryen.Module;
  constructor(readonly f: Fn) { this.mod = f.mod; }

  c(v: number): Ref { return this.mod.i32.const(v | 0); }

  /** loop { body; br_if loop cond } — the body runs at least once. */
  doWhile(body: Ref[], cond: () => Ref): Ref {
    const l = this.f.label('L');
    return this.mod.loop(l, this.mod.block(null, [...body, this.mod.br(l, cond())]));
  }

  /** if count == 1 → make(1) else if count == 2 → make(2) … up to max (count 0 or > max: nothing). */
  byCount(count: Local, max: number, make: (v: number) => Ref): Ref {
    let chain: Ref | undefined;
    for (let v = max; v >= 1; v--) chain = this.mod.if(this.mod.i32.eq(count.get(), this.c(v)), make(v), chain);
    return chain ?? this.mod.nop();
  }

  whileLoop(cond: () => Ref, body: Ref[]): Ref {
    return this.mod.if(cond(), this.doWhile(body, cond));
  }

  /** Address `base + r·stride` as (pointer expression, extra constant offset). */
  private rowAddr(base: () => Ref, stride: RowStride, r: number): [() => Ref, number] {
    if ('bytes' in stride) return [base, r * stride.bytes];
    if (r === 0) return [base, 0];
    const off = stride.offsets[r]!;
    return [() => this.mod.i32.add(base(), off.get()), 0];
  }

  loadVec(w: Width, offset: number, ptr: () => Ref): Ref {
    const v = this.mod.v128;
    switch (w) {
      case 4: return v.load(offset, 4, ptr());
      case 1: return v.load32_zero(offset, 4, ptr());
      case 2: return v.load64_zero(offset, 4, ptr());
      case 3: return v.load32_lane(offset + 8, 4, 2, ptr(), v.load64_zero(offset, 4, ptr()));
    }
  }

  storeVec(w: Width, offset: number, ptr: () => Ref, value: () => Ref): Ref {
    const v = this.mod.v128;
    switch (w) {
      case 4: return v.store(offset, 4, ptr(), value());
      case 1: return v.store32_lane(offset, 4, 0, ptr(), value());
      case 2: return v.store64_lane(offset, 4, 0, ptr(), value());
      case 3: return this.mod.block(null, [v.store64_lane(offset, 4, 0, ptr(), value()), v.store32_lane(offset + 8, 4, 2, ptr(), value())]);
    }
  }

  /**
   * A rows × (4·(vecs-1)+w) tile of y computed in registers over the whole k range:
   * acc[r][c] = init + Σ_p splat(a[r, p]) · B[p, c].
   */
  tile(t: TileSpec): Ref {
    const { mod, f } = this;
    const ta = f.i32();
    const tb = f.i32();
    const te = f.i32();
    const ty = f.i32();
    const acc = Array.from({ length: t.rows }, () => Array.from({ length: t.vecs }, () => f.v128()));
    const vb = Array.from({ length: t.vecs }, () => f.v128());
    const s = f.v128();
    const wOf = (ci: number): Width => (ci === t.vecs - 1 ? t.w : 4);
    const out: Ref[] = [ta.set(t.a()), tb.set(t.b()), ty.set(t.y()), te.set(mod.i32.add(ta.get(), t.kBytes()))];
    for (let r = 0; r < t.rows; r++) {
      const [yp, yo] = this.rowAddr(() => ty.get(), t.bStride, r);
      for (let ci = 0; ci < t.vecs; ci++) {
        out.push(acc[r]![ci]!.set(t.init === 'zero' ? mod.v128.const(new Uint8Array(16)) : this.loadVec(wOf(ci), yo + ci * 16, yp)));
      }
    }
    const step: Ref[] = [];
    for (let ci = 0; ci < t.vecs; ci++) step.push(vb[ci]!.set(this.loadVec(wOf(ci), ci * 16, () => tb.get())));
    for (let r = 0; r < t.rows; r++) {
      const [ap, ao] = this.rowAddr(() => ta.get(), t.aStride, r);
      step.push(s.set(mod.v128.load32_splat(ao, 4, ap())));
      for (let ci = 0; ci < t.vecs; ci++) {
        const x = acc[r]![ci]!;
        step.push(x.set(mod.f32x4.add(x.get(), mod.f32x4.mul(s.get(), vb[ci]!.get()))));
      }
    }
    step.push(ta.set(mod.i32.add(ta.get(), this.c(4))));
    step.push(tb.set('bytes' in t.bStride ? mod.i32.add(tb.get(), this.c(t.bStride.bytes)) : mod.i32.add(tb.get(), t.bStride.offsets[1]!.get())));
    out.push(this.doWhile(step, () => mod.i32.lt_u(ta.get(), te.get())));
    for (let r = 0; r < t.rows; r++) {
      const [yp, yo] = this.rowAddr(() => ty.get(), t.bStride, r);
      for (let ci = 0; ci < t.vecs; ci++) out.push(this.storeVec(wOf(ci), yo + ci * 16, yp, () => acc[r]![ci]!.get()));
    }
    return mod.block(null, out);
  }

  /**
   * y[0..n) at address `row` = bias (compile-time address) or 0. (A loop rather than memory.fill/copy:
   * binaryen's optimiser asserts on bulk-memory ops unless BulkMemoryOpt is enabled too.)
   */
  initRow(row: Local, n: number, bias?: number): Ref {
    const { mod, f } = this;
    const n4 = n - (n % 4);
    const p = f.i32();
    const value = (w: Width, off: number): Ref => (bias === undefined
      ? mod.v128.const(new Uint8Array(16))
      : this.loadVec(w, bias + off, () => this.c(0)));
    const out: Ref[] = [];
    if (n4 > 0) {
      // p runs over byte offsets 0, 16, …; bias is addressed as bias + p
      out.push(p.set(this.c(0)));
      out.push(this.doWhile([
        mod.v128.store(0, 4, mod.i32.add(row.get(), p.get()), bias === undefined ? value(4, 0) : mod.v128.load(bias, 4, p.get())),
        p.set(mod.i32.add(p.get(), this.c(16))),
      ], () => mod.i32.lt_u(p.get(), this.c(n4 * 4))));
    }
    if (n % 4) out.push(this.storeVec((n % 4) as Width, n4 * 4, () => row.get(), () => value((n % 4) as Width, n4 * 4)));
    return mod.block(null, out);
  }

  /**
   * y[0..n) = a[0..k) · B (+ bias) for one row: y is initialised, then every GEMV_P rows of B are combined
   * into one read-modify-write pass over y, so B is read once, contiguously.
   */
  gemvRow(a: Local, y: Local, k: number, n: number, b: number, bias?: number): Ref {
    const { mod, f } = this;
    const nb = n * 4;
    const n4 = n - (n % 4);
    const nVec = n4 / 4;
    const pa = f.i32();
    const pb = f.i32();
    const pEnd = f.i32();
    const yp = f.i32();
    const bp = f.i32();
    const yEnd = f.i32();
    const s = Array.from({ length: GEMV_P }, () => f.v128());
    const out: Ref[] = [this.initRow(y, n, bias), pa.set(a.get()), pb.set(this.c(b))];

    const pass = (P: number): Ref[] => {
      const body: Ref[] = [];
      for (let i = 0; i < P; i++) body.push(s[i]!.set(mod.v128.load32_splat(i * 4, 4, pa.get())));
      const sum = (terms: (() => Ref)[], plus: (x: Ref, z: Ref) => Ref = (x, z) => mod.f32x4.add(x, z)): Ref => {
        // pairwise sum of fresh expressions
        let level = terms.map((t) => t());
        while (level.length > 1) {
          const next: Ref[] = [];
          for (let i = 0; i + 1 < level.length; i += 2) next.push(plus(level[i]!, level[i + 1]!));
          if (level.length % 2) next.push(level[level.length - 1]!);
          level = next;
        }
        return level[0]!;
      };
      const vecUpdate = (off: number): Ref => mod.v128.store(off, 4, yp.get(), mod.f32x4.add(
        mod.v128.load(off, 4, yp.get()),
        sum(Array.from({ length: P }, (_, i) => () => mod.f32x4.mul(s[i]!.get(), mod.v128.load(i * nb + off, 4, bp.get())))),
      ));
      body.push(yp.set(y.get()), bp.set(pb.get()));
      const unrolled = Math.floor(nVec / GEMV_UNROLL) * GEMV_UNROLL;
      if (unrolled > 0) {
        body.push(yEnd.set(mod.i32.add(y.get(), this.c(unrolled * 16))));
        body.push(this.doWhile([
          ...Array.from({ length: GEMV_UNROLL }, (_, u) => vecUpdate(u * 16)),
          yp.set(mod.i32.add(yp.get(), this.c(GEMV_UNROLL * 16))),
          bp.set(mod.i32.add(bp.get(), this.c(GEMV_UNROLL * 16))),
        ], () => mod.i32.lt_u(yp.get(), yEnd.get())));
      }
      for (let v = unrolled; v < nVec; v++) body.push(vecUpdate((v - unrolled) * 16));
      for (let col = n4; col < n; col++) {
        const off = (col - unrolled * 4) * 4;
        body.push(mod.f32.store(off, 4, yp.get(), mod.f32.add(
          mod.f32.load(off, 4, yp.get()),
          sum(Array.from({ length: P }, (_, i) => () => mod.f32.mul(mod.f32x4.extract_lane(s[i]!.get(), 0), mod.f32.load(i * nb + off, 4, bp.get()))), (x, z) => mod.f32.add(x, z)),
        )));
      }
      body.push(pa.set(mod.i32.add(pa.get(), this.c(P * 4))), pb.set(mod.i32.add(pb.get(), this.c(P * nb))));
      return body;
    };

    const full = Math.floor(k / GEMV_P) * GEMV_P;
    if (full > 0) {
      out.push(pEnd.set(mod.i32.add(a.get(), this.c(full * 4))));
      out.push(this.doWhile(pass(GEMV_P), () => mod.i32.lt_u(pa.get(), pEnd.get())));
    }
    if (k % GEMV_P) out.push(...pass(k % GEMV_P));
    return mod.block(null, out);
  }
}
