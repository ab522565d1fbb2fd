// What a LLaMA-family template knows about the decoder it built, for the fused decode step of the WASM
// target (codegen/wasm/decode-step.ts): which nodes are each layer's norms and projections, and the
// attention's sizes. Nodes are named, not copied: the passes rewrite a projection in place (a Gemm becomes
// a OneBitLinear of the same name), so the names still hold when codegen reads them.

export interface DecoderLayerSpec {
  /** RMSNorm nodes before the attention and before the MLP. */
  inputNorm: string;
  postNorm: string;
  /** Projection nodes (Gemm, or OneBitLinear after the rewrite), x [1, in] → [1, out]. */
  q: string;
  k: string;
  v: string;
  o: string;
  gate: string;
  up: string;
  down: string;
}

export interface DecoderSpec {
  /** The Gather node reading the embedding table. */
  embed: string;
  layers: DecoderLayerSpec[];
  finalNorm: string;
  /** The LM head's projection node. */
  head: string;
  hidden: number;
  intermediate: number;
  vocab: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Rotate-half RoPE inverse frequencies (headDim/2, as the graph's inv_freq constant). */
  ropeInverseFrequencies: number[];
  /** Multiplies q·k (headDim^-0.5). */
  scale: number;
  /** Mistral: key j is seen from position p iff p − window < j ≤ p. */
  slidingWindow?: number;
  /** Longest context (max_position_embeddings): the KV cache's capacity. */
  contextLength: number;
}
