import onebit from 'onebitc/vite';
import { defineConfig } from 'vite';

// `?onebit` imports compile at build time (cached by content hash) into hashed model assets.
export default defineConfig({ plugins: [onebit()] });
