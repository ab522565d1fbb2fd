// Compile-time checks (run by `tsc --noEmit`, not by ava): the hand-written declarations in types/ that the
// package publishes agree with the sources. Options: whatever the public types allow, the code accepts.
// Results and models: whatever the public types promise, the code provides. Plugin types: the same both ways.
/// <reference path="../../types/client.d.ts" />
import type * as Public from '../../types/index.d.ts';
import type * as PublicPlugin from '../../types/plugin.d.ts';
import type * as PublicModel from '../../types/model.d.ts';
import type * as Api from '../../compiler/index.ts';
import type * as Plugin from '../../compiler/plugin/options.ts';
import type { LoadOptions as RuntimeLoadOptions, Model as RuntimeModel } from '../../runtime/model.ts';
import type { GenerateOptions as RuntimeGenerateOptions, LanguageModelMethods as RuntimeLanguageModelMethods, PerplexityOptions as RuntimePerplexityOptions } from '../../runtime/generate/index.ts';
import type { TensorSpec as RuntimeTensorSpec } from '../../runtime/plan.ts';
import type { Tensor as RuntimeTensor } from '../../formats/tensor.ts';
import story, { inputs as storyInputs } from '../fixtures/stories260K?onebit';
import classifier from './classifier.onnx?keep=fc1&onebit';

type Assert<T extends true> = T;
type Extends<A, B> = [A] extends [B] ? true : false;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

// The compile() API.
export type CompileOptionsAccepted = Assert<Extends<Public.CompileOptions, Api.CompileOptions>>;
export type ProgressEventsKnown = Assert<Extends<Api.ProgressEvent, Public.ProgressEvent>>;
export type CompileResultProvided = Assert<Extends<Api.CompileResult, Public.CompileResult>>;
export type ManifestProvided = Assert<Extends<Api.Manifest, Public.Manifest>>;
export type LayerReportProvided = Assert<Extends<Api.LayerReport, Public.LayerReport>>;
export type DiagnosticSame = Assert<Same<Api.Diagnostic, Public.Diagnostic>>;
export type TargetSame = Assert<Same<Api.Target, Public.Target>>;
export type CompileFunction = Assert<Extends<typeof Api.compile, typeof Public.compile>>;
export type InspectFunction = Assert<Extends<typeof Api.inspect, typeof Public.inspect>>;
export type CompileErrorClass = Assert<Extends<Api.CompileError, Public.CompileError>>;
export type FormatErrorClass = Assert<Extends<Api.FormatError, Public.FormatError>>;
export type VersionConstant = Assert<Extends<typeof Api.ONEBITC_VERSION, typeof Public.ONEBITC_VERSION>>;
export type TargetsConstant = Assert<Extends<typeof Api.TARGETS, typeof Public.TARGETS>>;

// The build plugin's options (both files are this package's own: exactly the same).
export type ModelOptionsSame = Assert<Same<Plugin.ModelOptions, PublicPlugin.ModelOptions>>;
export type PluginOptionsSame = Assert<Same<Plugin.OnebitPluginOptions, PublicPlugin.OnebitPluginOptions>>;
export type CompileEventSame = Assert<Same<Plugin.CompileEvent, PublicPlugin.CompileEvent>>;

// Loaded models.
export type LoadOptionsAccepted = Assert<Extends<PublicModel.LoadOptions, RuntimeLoadOptions>>;
export type GenerateOptionsAccepted = Assert<Extends<PublicModel.GenerateOptions, RuntimeGenerateOptions>>;
export type PerplexityOptionsAccepted = Assert<Extends<PublicModel.PerplexityOptions, RuntimePerplexityOptions>>;
export type ModelProvided = Assert<Extends<RuntimeModel, PublicModel.Model>>;
export type LanguageModelProvided = Assert<Extends<RuntimeLanguageModelMethods, PublicModel.LanguageModelMethods>>;
export type TensorSpecSame = Assert<Same<RuntimeTensorSpec, PublicModel.TensorSpec>>;
export type TensorProvided = Assert<Extends<RuntimeTensor, PublicModel.Tensor>>;

// onebitc/client: `?onebit` imports type-check as a user's app would use them.
export async function storyApp(out: { textContent: string }): Promise<number> {
  const m = await story.load({ backend: 'auto' });
  for await (const piece of m.generate('Once upon a time', { maxTokens: 20 })) out.textContent += piece;
  const logits = (await m.run({ input_ids: { data: BigInt64Array.of(1n), dims: [1, 1] } }))['logits'];
  return storyInputs.length + (logits?.dims.length ?? 0) + classifier.manifest.size.after;
}
