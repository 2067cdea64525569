// Writes Ink 6 and its dependencies as one ESM bundle in dist/vendor/ink, for `open`'s start-up time:
// Node 20 has no compile cache, and loading Ink's ~100 modules one by one costs ~4x the CPU of one
// bundle (docs/ui.md). React stays external (one React for Ink and the views); react-devtools-core
// is only imported when DEV=true, so it stays in its own chunk, never loaded.
import { build } from 'esbuild';

await build({
  entryPoints: ['node_modules/ink/build/index.js'],
  outdir: 'dist/vendor/ink',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['react', 'react-devtools-core'],
  // React's production builds: open.ts sets NODE_ENV=production before React loads, so React and
  // this reconciler agree (a production reconciler with a development React renders nothing).
  // yoga-layout's emscripten loader fetch()es its wasm from a data: URL when fetch exists; on Node 20
  // that loads undici (~50 ms of CPU) to decode base64. Without fetch it decodes it directly.
  define: { 'process.env.NODE_ENV': '"production"', fetch: 'undefined' },
  outExtension: { '.js': '.mjs' },
  // Some of Ink's CommonJS dependencies require() Node built-ins; an ESM bundle needs a require.
  banner: { js: "import { createRequire as __autopsyCreateRequire } from 'node:module'; const require = __autopsyCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
