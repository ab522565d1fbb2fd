// The code of a `?onebit` module: the compiled model.js (imported as its own module, so two imports of one
// model share it) wrapped so that load() finds the bundle's files at the URLs the bundler gave them.

/** The bundle's files that are loaded by URL (everything but the code, its types and the manifest). */
export function isAssetFile(file: string): boolean {
  return file !== 'model.js' && file !== 'model.d.ts' && file !== 'manifest.json' && !file.startsWith('.');
}

export interface ModuleCodeInput {
  /** The model's short name and where it came from (for the header comment). */
  name: string;
  source: string;
  /** The specifier of the bundle's model.js module. */
  bundleImport: string;
  /** Per asset file: a JavaScript expression that evaluates to its URL (a string). */
  urls: readonly (readonly [file: string, expression: string])[];
  /** manifest.json, as text. */
  manifest: string;
}

export function moduleCode(m: ModuleCodeInput): string {
  const urls = m.urls.map(([file, expr]) => `  ${JSON.stringify(file)}: ${expr},`).join('\n');
  return `// onebitc: ${m.name.replace(/[\r\n]/g, ' ')} (${m.source.replace(/[\r\n]/g, ' ')}), compiled by the onebitc build plugin. Do not edit.
import { load as loadBundle, inputs, outputs } from ${JSON.stringify(m.bundleImport)};
export { inputs, outputs };
/** Where the bundle's files are, by file name (hashed assets emitted by the bundler). */
export const urls = {
${urls}
};
/** The bundle's manifest.json: onebitc version, inputs, outputs, targets, file and layer sizes. */
export const manifest = ${m.manifest.trim()};
/** Loads the model from the URLs above (entries of options.urls win). */
export function load(options = {}) {
  return loadBundle({ ...options, urls: { ...urls, ...options.urls } });
}
export default { load, inputs, outputs, urls, manifest };
`;
}
