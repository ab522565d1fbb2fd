// Registers a tiny loader that strips types from this project's own .ts files with esbuild.
// (tsx would also transform binaryen's 15 MB file and time out; see shared TOOLCHAIN.md.)
import { register } from 'node:module';
register('./ts-hooks.js', import.meta.url);
