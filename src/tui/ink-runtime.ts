/**
 * Ink 6 is ESM-only and its yoga-layout dependency uses top-level await, so this CommonJS package
 * cannot require() it, even on Node 20.19+ (ERR_REQUIRE_ASYNC_MODULE). It is loaded once with
 * import() before the first render; views then take its components from here synchronously.
 *
 * `npm run build` also writes Ink and its dependencies as one CommonJS bundle (dist/vendor/ink,
 * scripts/bundle-ink.mjs: esbuild, React left external so there is one React, yoga started
 * synchronously so there is no top-level await). Node 20 has no compile cache, and loading Ink's ~100
 * ES modules one by one cost ~950 ms of CPU, the ESM bundle ~150 ms, this one ~75 ms (docs/ui.md).
 * The package itself is the fallback, and what tests use, since ink-testing-library renders with the
 * package's own Ink and its contexts must be the same objects.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export type Ink = typeof import('ink', { with: { 'resolution-mode': 'import' } });

let ink: Ink | undefined;

const BUNDLE = join(__dirname, '..', '..', 'vendor', 'ink', 'index.cjs');

export async function loadInk(opts: { bundled?: boolean } = {}): Promise<Ink> {
  if (ink) return ink;
  if (opts.bundled && existsSync(BUNDLE)) ink = require(BUNDLE) as Ink;
  else ink = await import('ink');
  return ink;
}

export function inkApi(): Ink {
  if (!ink) throw new Error('loadInk() must run before the UI renders');
  return ink;
}
