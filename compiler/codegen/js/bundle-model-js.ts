// Builds model.js: runtime/bundle-entry.ts (real, type-checked TypeScript) bundled with this model's plan.
import { join } from 'node:path';
import { build } from 'esbuild';
import { PACKAGE_ROOT } from '../../package-root.ts';

const ENTRY = join(PACKAGE_ROOT, 'runtime', 'bundle-entry.ts');
/** Language models also get the tokenizer and decoding (kept out of other bundles). */
const LM_ENTRY = join(PACKAGE_ROOT, 'runtime', 'lm-bundle-entry.ts');

export async function bundleModelJs(planSource: string, header: string, languageModel = false): Promise<string> {
  const result = await build({
    entryPoints: [languageModel ? LM_ENTRY : ENTRY],
    absWorkingDir: PACKAGE_ROOT, // paths in the output's comments are relative to it: stable across machines
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: ['node:*'],
    banner: { js: header },
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [{
      name: 'onebitc-plan',
      setup(b) {
        b.onResolve({ filter: /^onebitc:plan$/ }, () => ({ path: 'plan', namespace: 'onebitc' }));
        b.onLoad({ filter: /.*/, namespace: 'onebitc' }, () => ({ contents: planSource, loader: 'js' }));
      },
    }],
  });
  return result.outputFiles[0]!.text;
}
