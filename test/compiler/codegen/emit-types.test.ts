// model.d.ts type-checks the way users call the model: right feeds compile, wrong names/arrays/ranks do not.
import test from 'ava';
import { Project } from 'ts-morph';
import { emitTypes } from '../../../compiler/codegen/js/emit-types.ts';

const types = emitTypes('// test header', [{ name: 'input_ids', dtype: 'int64', dims: ['batch', 'sequence'] }], [{ name: 'logits', dtype: 'float32', dims: ['batch', 'sequence', 512] }], ['auto', 'wasm', 'js']);

function diagnostics(user: string): string[] {
  const project = new Project({ useInMemoryFileSystem: true, compilerOptions: { strict: true, target: 99, lib: ['lib.es2022.d.ts'] } });
  project.createSourceFile('/model.d.ts', types);
  project.createSourceFile('/app.ts', `import { load, inputs } from './model';\n${user}\nexport {};`);
  return project.getPreEmitDiagnostics().map((d) => String(typeof d.getMessageText() === 'string' ? d.getMessageText() : d.getMessageText()));
}

test('correct use type-checks, with exact output types', (t) => {
  t.deepEqual(diagnostics(`
    const m = await load({ backend: 'auto' });
    const out = await m.run({ input_ids: { data: BigInt64Array.of(1n, 2n), dims: [1, 2] } });
    const logits: Float32Array = out.logits.data;
    const vocab: 512 = out.logits.dims[2];
    const name: 'input_ids' = inputs[0].name;
    void logits; void vocab; void name;`), []);
});

test('a wrong input name, array type, rank, or backend does not type-check', (t) => {
  t.true(diagnostics(`await (await load()).run({ ids: { data: BigInt64Array.of(1n), dims: [1, 1] } });`).length > 0);
  t.true(diagnostics(`await (await load()).run({ input_ids: { data: Float32Array.of(1), dims: [1, 1] } });`).length > 0);
  t.true(diagnostics(`await (await load()).run({ input_ids: { data: BigInt64Array.of(1n), dims: [1] } });`).length > 0);
  t.true(diagnostics(`await load({ backend: 'cuda' });`).length > 0);
});
