// model.d.ts, built with ts-morph: exact input/output names, dtypes and dims of this model.
import { Project, VariableDeclarationKind } from 'ts-morph';
import type { DType } from '../../../formats/dtype.ts';
import type { TensorSpec } from '../../../runtime/plan.ts';

const ARRAY_TYPES: Record<DType, string> = {
  float32: 'Float32Array', float64: 'Float64Array', float16: 'Uint16Array', bfloat16: 'Uint16Array',
  int8: 'Int8Array', int16: 'Int16Array', int32: 'Int32Array', int64: 'BigInt64Array',
  uint8: 'Uint8Array', uint16: 'Uint16Array', uint32: 'Uint32Array', uint64: 'BigUint64Array', bool: 'Uint8Array', string: 'string[]',
};

/** What language-model bundles add: decoding with the shipped tokenizer. */
const LM_METHODS = [
  { name: 'generate', parameters: [{ name: 'prompt', type: 'string | readonly number[]' }, { name: 'options', hasQuestionToken: true, type: 'GenerateOptions' }], returnType: 'AsyncGenerator<string>', docs: ['Streams the continuation of `prompt` as text (KV cache when the model has one; greedy by default).'] },
  { name: 'generateIds', parameters: [{ name: 'prompt', type: 'string | readonly number[]' }, { name: 'options', hasQuestionToken: true, type: 'GenerateOptions' }], returnType: 'Promise<number[]>', docs: ['The generated token ids (EOS excluded).'] },
  { name: 'perplexity', parameters: [{ name: 'text', type: 'string' }, { name: 'options', hasQuestionToken: true, type: '{ contextLength?: number; maxChunks?: number; onProgress?(p: { chunk: number; chunks: number; tokens: number }): void }' }], returnType: 'Promise<{ perplexity: number; tokens: number; chunks: number; seconds: number; method: string }>', docs: ['Perplexity of `text`: chunks of BOS + whole paragraphs up to the context length, fresh context per chunk.'] },
];

const GENERATE_OPTIONS = {
  name: 'GenerateOptions', isExported: true,
  properties: [
    { name: 'maxTokens', hasQuestionToken: true, type: 'number', docs: ['Most tokens to generate (default 256).'] },
    { name: 'temperature', hasQuestionToken: true, type: 'number', docs: ['0 (default) is greedy.'] },
    { name: 'topK', hasQuestionToken: true, type: 'number' },
    { name: 'topP', hasQuestionToken: true, type: 'number' },
    { name: 'seed', hasQuestionToken: true, type: 'number', docs: ['Seed of the sampler: the same seed gives the same text.'] },
    { name: 'stop', hasQuestionToken: true, type: 'readonly string[]', docs: ['Stop before any of these strings (not emitted).'] },
    { name: 'stopOnEos', hasQuestionToken: true, type: 'boolean' },
    { name: 'maxContext', hasQuestionToken: true, type: 'number', docs: ["Longest context, prompt included (default: the model's)."] },
  ],
};

const dimsType = (dims: TensorSpec['dims']) => `readonly [${dims.map((d) => (typeof d === 'number' ? String(d) : 'number')).join(', ')}]`;
const dimsDoc = (spec: TensorSpec) => `${spec.dtype} [${spec.dims.join(', ')}]`;
const specType = (s: TensorSpec) => `{ readonly name: ${JSON.stringify(s.name)}; readonly dtype: ${JSON.stringify(s.dtype)}; readonly dims: readonly [${s.dims.map((d) => JSON.stringify(d)).join(', ')}] }`;

export function emitTypes(header: string, inputs: readonly TensorSpec[], outputs: readonly TensorSpec[], backends: readonly string[], languageModel = false): string {
  const project = new Project({ useInMemoryFileSystem: true });
  const file = project.createSourceFile('model.d.ts');
  file.addInterface({
    name: 'Inputs', isExported: true, docs: ['The feeds of `run()`: onnxruntime-style `{ data, dims }` tensors.'],
    properties: inputs.map((s) => ({ name: JSON.stringify(s.name), docs: [dimsDoc(s)], type: `{ readonly data: ${ARRAY_TYPES[s.dtype]}; readonly dims: ${dimsType(s.dims)} }` })),
  });
  file.addInterface({
    name: 'Outputs', isExported: true, docs: ['What `run()` resolves to.'],
    properties: outputs.map((s) => ({ name: JSON.stringify(s.name), docs: [dimsDoc(s)], type: `{ readonly dtype: ${JSON.stringify(s.dtype)}; readonly data: ${ARRAY_TYPES[s.dtype]}; readonly dims: ${dimsType(s.dims)} }` })),
  });
  file.addInterface({
    name: 'LoadOptions', isExported: true,
    properties: [
      { name: 'backend', hasQuestionToken: true, type: backends.map((b) => JSON.stringify(b)).join(' | '), docs: ["Which kernels run the model: 'webgpu' (shaders.json on a GPU), 'wasm' (model.wasm's SIMD kernels), 'js' (the reference kernels); 'auto' picks WebGPU on a hardware GPU, else WASM."] },
      { name: 'gpu', hasQuestionToken: true, type: '{ requestAdapter(options?: object): Promise<unknown> }', docs: ['The WebGPU entry point when not navigator.gpu (in Node: the `webgpu` package\'s create([])); given explicitly, a software adapter is used too.'] },
      { name: 'onNote', hasQuestionToken: true, type: '(message: string) => void', docs: ['Where notes go (WebGPU: a node that reads a GPU value back; threads unavailable); default console.warn.'] },
      { name: 'threads', hasQuestionToken: true, type: 'number', docs: ["Threads for the WASM backend's large OneBit layers (one token: rows split between workers sharing model.wasm's memory); default 1. Browsers need a cross-origin-isolated page, else single-threaded with a note."] },
      { name: 'threadMinWeights', hasQuestionToken: true, type: 'number', docs: ['Fewest weights (out · in) of a OneBit layer whose GEMV is split between threads (default 2^20).'] },
      { name: 'weights', hasQuestionToken: true, type: 'Uint8Array | ArrayBuffer', docs: ['The bytes of weights.safetensors, when not loaded from beside model.js.'] },
      { name: 'wasm', hasQuestionToken: true, type: 'Uint8Array | ArrayBuffer', docs: ['The bytes of model.wasm, when not loaded from beside model.js.'] },
      { name: 'urls', hasQuestionToken: true, type: 'Readonly<Record<string, string | { readonly href: string }>>', docs: ["Where the bundle's files are, by file name ('weights.safetensors', 'model.wasm', 'tokenizer.json', …), when not beside model.js (e.g. hashed asset URLs); relative URLs resolve against model.js."] },
    ],
  });
  file.addInterface({
    name: 'Model', isExported: true,
    properties: [
      { name: 'inputs', isReadonly: true, type: 'typeof inputs' },
      { name: 'outputs', isReadonly: true, type: 'typeof outputs' },
      { name: 'backend', isReadonly: true, type: backends.filter((b) => b !== 'auto').map((b) => JSON.stringify(b)).join(' | '), docs: ['The backend that runs the model.'] },
      { name: 'threads', isReadonly: true, type: 'number', docs: ['Threads running the WASM kernels (1 on other backends, or when no layer is large enough to split).'] },
      { name: 'wasmCalls', isReadonly: true, type: 'ReadonlyMap<string, number>', docs: ["WASM kernel calls of the last run, by kind ('js-fallback': nodes whose shapes the WASM kernel did not take)."] },
      { name: 'gpuCalls', isReadonly: true, type: 'ReadonlyMap<string, number>', docs: ["WebGPU dispatches of the last run, by kind ('host': nodes run on the host, 'readback': those that read a GPU value back)."] },
      { name: 'gpu', isReadonly: true, type: 'string | undefined', docs: ['The GPU adapter, in words (WebGPU backend only).'] },
    ],
    methods: [
      { name: 'run', parameters: [{ name: 'feeds', type: 'Inputs' }, { name: 'options', hasQuestionToken: true, type: '{ keepOnDevice?: readonly string[]; lastRow?: { output: string; topK?: number } }' }], returnType: 'Promise<Outputs>', docs: ['Runs the model on one set of feeds. WebGPU: `keepOnDevice` outputs come back as GPU handles to feed to a later run (free them with release()); `lastRow` reads back only the last row of one output, or its topK largest entries.'] },
      { name: 'release', parameters: [{ name: 't', type: 'object' }], returnType: 'void', docs: ['Frees an output kept on the GPU (keepOnDevice).'] },
      { name: 'dispose', returnType: 'void', docs: ['Releases the weights (and the GPU device); the model cannot run afterwards.'] },
      ...(languageModel ? LM_METHODS : []),
    ],
  });
  if (languageModel) file.addInterface(GENERATE_OPTIONS);
  file.addVariableStatement({
    isExported: true, hasDeclareKeyword: true, declarationKind: VariableDeclarationKind.Const, docs: ['Input names, dtypes and dims (symbolic dims as strings).'],
    declarations: [{ name: 'inputs', type: `readonly [${inputs.map(specType).join(', ')}]` }],
  });
  file.addVariableStatement({
    isExported: true, hasDeclareKeyword: true, declarationKind: VariableDeclarationKind.Const, docs: ['Output names, dtypes and dims.'],
    declarations: [{ name: 'outputs', type: `readonly [${outputs.map(specType).join(', ')}]` }],
  });
  file.addFunction({
    isExported: true, hasDeclareKeyword: true, name: 'load', docs: ['Loads the weights beside model.js (or `options.weights`) and returns a runnable model.'],
    parameters: [{ name: 'options', hasQuestionToken: true, type: 'LoadOptions' }], returnType: 'Promise<Model>',
  });
  file.formatText({ indentSize: 2 });
  return `${header}\n${file.getFullText()}`;
}
