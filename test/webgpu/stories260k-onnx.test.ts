// stories260K's ONNX export (input_ids → logits, recomputed each step) on WebGPU against WASM.
import test from 'ava';
import { ONNX_SOURCE, storiesOnWebGpu } from '../helpers/webgpu-lm.ts';

storiesOnWebGpu(test, ONNX_SOURCE);
