/**
 * Ink 6 is ESM-only and its yoga-layout dependency uses top-level await, so this CommonJS package
 * cannot require() it, even on Node 20.19+ (ERR_REQUIRE_ASYNC_MODULE). It is loaded once with
 * import() before the first render; views then take its components from here synchronously.
 */
export type Ink = typeof import('ink', { with: { 'resolution-mode': 'import' } });

let ink: Ink | undefined;

export async function loadInk(): Promise<Ink> {
  ink ??= await import('ink');
  return ink;
}

export function inkApi(): Ink {
  if (!ink) throw new Error('loadInk() must run before the UI renders');
  return ink;
}
