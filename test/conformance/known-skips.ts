// ONNX node cases of supported ops that are not run, each with the reason. Keep this list short and honest.
// (Cases whose graphs use sequence or optional values are skipped automatically, with that reason: the
// runtime has tensors only.)
const TRAINING_DROPOUT = "training-mode Dropout: the expected output comes from numpy's random generator, which cannot be reproduced";
const BF16_TRUNCATION = 'the ONNX 1.12 data truncates float32 → bfloat16; onebitc rounds to nearest even, as onnxruntime and ONNX ≥ 1.13 do';

export const KNOWN_SKIPS: Readonly<Record<string, string>> = {
  'node/test_training_dropout': TRAINING_DROPOUT,
  'node/test_training_dropout_default': TRAINING_DROPOUT,
  'node/test_training_dropout_default_mask': TRAINING_DROPOUT,
  'node/test_training_dropout_mask': TRAINING_DROPOUT,
  'node/test_cast_FLOAT_to_BFLOAT16': BF16_TRUNCATION,
  'node/test_castlike_FLOAT_to_BFLOAT16_expanded': BF16_TRUNCATION,
};

/** Supported ops that no case of libonnx-testdata 1.12 (opsets ≤ 17) exercises; their unit tests cover them. */
export const OPS_WITHOUT_CASES: Readonly<Record<string, string>> = {
  Gelu: 'Gelu is an opset-20 op (test/runtime/kernels/elementwise.test.ts checks it against the ONNX spec examples)',
  RMSNorm: "onebitc's own fused op (test/compiler/passes/fuse-rms-norm.test.ts checks it against onnxruntime on the unfused graph)",
  OneBitLinear: "onebitc's own op (test/runtime/kernels/onebit.test.ts and the end-to-end SVID-oracle tests check it)",
};
