// The training-only attention fusion: the fused graph computes what the original does (stories260K, batch of 2,
// and one decode step against a KV cache), and every layer's attention chain is fused.
import test from 'ava';
import { importModel } from '../../compiler/import/import-model.ts';
import { Tape } from '../../compiler/train/autodiff/tape.ts';
import { fuseAttention } from '../../compiler/train/fuse-attention.ts';
import { decoderFeeds } from '../../compiler/train/language-model-feeds.ts';
import type { Tensor } from '../../formats/tensor.ts';
import { STORIES_DIR } from '../helpers/hf-checkpoint.ts';

const { model } = await importModel(STORIES_DIR);
const fused = fuseAttention(model.graph);
const none = new Map<string, Tensor>();
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); return m; };

test('each layer\'s MatMul → Mul → Add(mask) → Softmax → MatMul becomes one FusedAttention node', (t) => {
  t.is(fused.nodes.filter((n) => n.op === 'FusedAttention').length, 5);
  t.is(fused.nodes.filter((n) => n.op === 'Softmax').length, 0);
  t.is(model.graph.nodes.filter((n) => n.op === 'Softmax').length, 5, 'the original graph is left as it is');
});

test('the fused graph gives the original logits, for a batch and for a step against a KV cache', (t) => {
  const ids = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 1, 301, 427, 309, 426, 301, 427, 309, 394, 265];
  const want = new Tape(model.graph).run(decoderFeeds(model.graph, ids, 2), none).values;
  const got = new Tape(fused).run(decoderFeeds(fused, ids, 2), none).values;
  t.true(maxDiff(got.get('logits')!.data as Float32Array, want.get('logits')!.data as Float32Array) < 1e-4);
  const past = new Map([...want].filter(([name]) => name.startsWith('present.')));
  const stepWant = new Tape(model.graph).run(decoderFeeds(model.graph, [298, 299], 2, past), none).values.get('logits')!.data as Float32Array;
  const stepGot = new Tape(fused).run(decoderFeeds(fused, [298, 299], 2, past), none).values.get('logits')!.data as Float32Array;
  t.true(maxDiff(stepGot, stepWant) < 1e-4);
});
