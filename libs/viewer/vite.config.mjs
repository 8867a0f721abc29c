// Builds the viewer (libs/viewer/app) into dist/libs/viewer/app, which the broker serves at /ui/.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./app', import.meta.url)),
  base: '/ui/',
  logLevel: 'warn',
  // `#ark/client`: the typed client's TypeScript source, bundled into the app.
  resolve: { alias: [{ find: /^#ark\/(.+)$/, replacement: fileURLToPath(new URL('../$1/src/index.ts', import.meta.url)) }] },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../../dist/libs/viewer/app', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
  },
});
