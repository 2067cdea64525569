/**
 * Ink 6 is ESM-only and its yoga-layout dependency uses top-level await, so this CommonJS package
 * cannot require() it, even on Node 20.19+ (ERR_REQUIRE_ASYNC_MODULE). It is loaded once with
 * import() before the first render; views then take its components from here synchronously.
 *
 * `npm run build` also writes Ink and its dependencies as one ESM bundle (dist/vendor/ink, esbuild,
 * React left external so there is one React). Node 20 has no compile cache, and loading Ink's ~100
 * modules one by one cost ~950 ms of CPU against ~230 ms for the bundle (docs/ui.md), most of the
 * 300 ms first-screen budget. The package itself is the fallback, and what tests use, since
 * ink-testing-library renders with the package's own Ink and its contexts must be the same objects.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export type Ink = typeof import('ink', { with: { 'resolution-mode': 'import' } });

let ink: Ink | undefined;

const BUNDLE = join(__dirname, '..', '..', 'vendor', 'ink', 'index.mjs');

export async function loadInk(opts: { bundled?: boolean } = {}): Promise<Ink> {
  if (ink) return ink;
  if (opts.bundled && existsSync(BUNDLE)) ink = (await import(pathToFileURL(BUNDLE).href)) as Ink;
  else ink = await import('ink');
  return ink;
}

export function inkApi(): Ink {
  if (!ink) throw new Error('loadInk() must run before the UI renders');
  return ink;
}
