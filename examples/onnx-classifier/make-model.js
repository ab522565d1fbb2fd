// Makes the example's model: a small image classifier, trained here, written as a standard ONNX file.
//
// Data: 10 classes of noisy 16×16 glyphs (each class a random binary prototype; a sample flips 25% of its
// pixels and adds Gaussian noise of σ 1.2), drawn from a seeded generator, so every run makes the same files.
// Model: pixels [batch, 256] → Gemm 256→512 → Relu → Gemm 512→10 → logits, Softmax → probabilities.
// The hidden layer is random features (He-initialised), the output layer is fitted by ridge regression on
// one-hot targets: a real trained classifier, built in well under a second without any ML framework.
//
//   node examples/onnx-classifier/make-model.js <dir>     # writes <dir>/classifier.onnx and <dir>/test-set.json
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export const PIXELS = 256;
const HIDDEN = 512;
export const CLASSES = 10;

/** mulberry32: a small seeded PRNG. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const gaussian = (rand) => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

/** `n` labelled samples: Float32Array [n, PIXELS] and their labels. */
function glyphs(rand, prototypes, n) {
  const x = new Float32Array(n * PIXELS);
  const labels = [];
  for (let s = 0; s < n; s++) {
    const c = s % CLASSES;
    labels.push(c);
    for (let p = 0; p < PIXELS; p++) {
      const on = prototypes[c][p] !== (rand() < 0.25);
      x[s * PIXELS + p] = (on ? 1 : -1) + 1.2 * gaussian(rand);
    }
  }
  return { x, labels };
}

/** relu(x W1ᵀ + b1) for every sample: [n, HIDDEN]. */
function hidden(x, n, w1, b1) {
  const h = new Float32Array(n * HIDDEN);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < HIDDEN; j++) {
      let sum = b1[j];
      for (let p = 0; p < PIXELS; p++) sum += x[s * PIXELS + p] * w1[j * PIXELS + p];
      h[s * HIDDEN + j] = sum > 0 ? sum : 0;
    }
  }
  return h;
}

/** Solves (A + λI) X = B for symmetric positive definite A (Cholesky); A is [m, m], B is [m, k]. */
function ridgeSolve(a, b, m, k, lambda) {
  const l = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * m + j] + (i === j ? lambda : 0);
      for (let q = 0; q < j; q++) sum -= l[i * m + q] * l[j * m + q];
      l[i * m + j] = i === j ? Math.sqrt(sum) : sum / l[j * m + j];
    }
  }
  const x = new Float64Array(m * k);
  for (let c = 0; c < k; c++) {
    const y = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let sum = b[i * k + c];
      for (let q = 0; q < i; q++) sum -= l[i * m + q] * y[q];
      y[i] = sum / l[i * m + i];
    }
    for (let i = m - 1; i >= 0; i--) {
      let sum = y[i];
      for (let q = i + 1; q < m; q++) sum -= l[q * m + i] * x[q * k + c];
      x[i * k + c] = sum / l[i * m + i];
    }
  }
  return x;
}

function tensor(name, dims, data) {
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(Float32Array.from(data).buffer) };
}
const valueInfo = (name, dims) => ({ name, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });

/** Trains the classifier and writes `classifier.onnx` and `test-set.json` (200 held-out samples) into `dir`. */
export function makeClassifier(dir) {
  const rand = rng(2024);
  const prototypes = Array.from({ length: CLASSES }, () => Array.from({ length: PIXELS }, () => rand() < 0.5));
  const train = glyphs(rand, prototypes, 2000);
  const test = glyphs(rand, prototypes, 200);

  const w1 = Float32Array.from({ length: HIDDEN * PIXELS }, () => gaussian(rand) * Math.sqrt(2 / PIXELS));
  const b1 = Float32Array.from({ length: HIDDEN }, () => 0.1 * gaussian(rand));
  const n = train.labels.length;
  const h = hidden(train.x, n, w1, b1);
  // Ridge regression of one-hot targets on [h, 1]: the output weights and bias in one solve.
  const m = HIDDEN + 1;
  const gram = new Float64Array(m * m);
  const rhs = new Float64Array(m * CLASSES);
  const row = new Float64Array(m);
  for (let s = 0; s < n; s++) {
    for (let j = 0; j < HIDDEN; j++) row[j] = h[s * HIDDEN + j];
    row[HIDDEN] = 1;
    for (let i = 0; i < m; i++) {
      if (row[i] === 0) continue;
      for (let j = 0; j < m; j++) gram[i * m + j] += row[i] * row[j];
      rhs[i * CLASSES + train.labels[s]] += row[i];
    }
  }
  const solution = ridgeSolve(gram, rhs, m, CLASSES, 10);
  const w2 = new Float32Array(CLASSES * HIDDEN);
  const b2 = new Float32Array(CLASSES);
  for (let c = 0; c < CLASSES; c++) {
    for (let j = 0; j < HIDDEN; j++) w2[c * HIDDEN + j] = solution[j * CLASSES + c];
    b2[c] = solution[HIDDEN * CLASSES + c];
  }

  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'onebitc examples/onnx-classifier/make-model.js',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'glyph-classifier',
      node: [
        { opType: 'Gemm', name: 'features', input: ['pixels', 'features.weight', 'features.bias'], output: ['features.out'], attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
        { opType: 'Relu', name: 'relu', input: ['features.out'], output: ['hidden'] },
        { opType: 'Gemm', name: 'classifier', input: ['hidden', 'classifier.weight', 'classifier.bias'], output: ['logits'], attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] },
        { opType: 'Softmax', name: 'softmax', input: ['logits'], output: ['probabilities'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }] },
      ],
      input: [valueInfo('pixels', ['batch', PIXELS])],
      output: [valueInfo('logits', ['batch', CLASSES]), valueInfo('probabilities', ['batch', CLASSES])],
      initializer: [
        tensor('features.weight', [HIDDEN, PIXELS], w1), tensor('features.bias', [HIDDEN], b1),
        tensor('classifier.weight', [CLASSES, HIDDEN], w2), tensor('classifier.bias', [CLASSES], b2),
      ],
    },
  });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'classifier.onnx'), onnx.ModelProto.encode(model).finish());
  writeFileSync(join(dir, 'test-set.json'), JSON.stringify({ pixels: Array.from(test.x, (v) => Math.round(v * 1e4) / 1e4), labels: test.labels }));
  return { model: join(dir, 'classifier.onnx'), testSet: join(dir, 'test-set.json') };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? '.';
  const started = performance.now();
  const { model } = makeClassifier(dir);
  process.stdout.write(`wrote ${model} and the test set in ${((performance.now() - started) / 1000).toFixed(2)} s\n`);
}
