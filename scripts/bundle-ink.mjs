// Writes Ink 6 and its dependencies as one CommonJS bundle, dist/vendor/ink/index.cjs, for `open`'s
// start-up time: Node 20 has no compile cache, and loading Ink's ~100 ES modules one by one costs ~6x
// the CPU of one ESM bundle, ~12x this one (docs/ui.md, docs/performance.md#ui). React stays external
// (one React for Ink and the views).
//
// Source patches, all checked: the build fails when their anchor text is gone (an Ink update),
// rather than shipping a bundle without them (docs/performance.md#ui has the figures):
// - Intl.Segmenter is created lazily, and pure-ASCII strings are segmented without it. Ink's text
//   modules create four grapheme segmenters at load; the first one costs ICU's start-up (~35-60 ms of
//   CPU), and then every frame segments every line through ICU. For ASCII the grapheme clusters are
//   the characters, except CR LF (UAX #29 GB3), so the answer is the same.
// - ansi-tokenize's styledCharsToString diffs the styles of each character with the previous one
//   (three Sets and four arrays per character, every line of every frame); runs of equal styles,
//   most of a screen, now skip the diff, and characters of one run share one styles array.
// - yoga-layout's wasm is instantiated synchronously (emscripten's instantiateWasm hook), and Ink's
//   DEV=true devtools are switched off: with no top-level await left, the bundle can be CommonJS.
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { build } from 'esbuild';

// A grapheme Intl.Segmenter made on first non-ASCII use. For ASCII, `segment(s)` answers with an
// array of the same segment objects (iteration and containing()); anything else goes to the real one.
const SEGMENTER = `class __AutopsySegmenter {
  #args; #real;
  constructor(...args) { this.#args = args; }
  #get() { return (this.#real ??= new Intl.Segmenter(...this.#args)); }
  segment(s) {
    const grapheme = (this.#args[1]?.granularity ?? 'grapheme') === 'grapheme';
    if (!grapheme || typeof s !== 'string' || !/^[\\x00-\\x7f]*$/.test(s) || s.includes('\\r\\n')) return this.#get().segment(s);
    const out = new Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = { segment: s[i], index: i, input: s };
    out.containing = (i = 0) => out[Math.trunc(Number(i)) || 0];
    return out;
  }
  resolvedOptions() { return this.#get().resolvedOptions(); }
}`;

// Each edit must apply at least `min` times over the whole bundle.
const PATCHES = [
  { file: /\.js$/, from: /new Intl\.Segmenter\(/g, to: 'new __AutopsySegmenter(', min: 4 },
  // One styles array per run: reduceAnsiCodesIncremental always returns a new array, never mutates.
  { file: /ansi-tokenize[\\/]build[\\/]styledChars\.js$/, from: 'styles: [...codes],', to: 'styles: codes,', min: 1 },
  {
    file: /ansi-tokenize[\\/]build[\\/]styledChars\.js$/,
    from: 'ret += ansiCodesToString(diffAnsiCodes(chars[i - 1].styles, char.styles));',
    to: 'const prev = chars[i - 1].styles; if (prev !== char.styles && !(prev.length === char.styles.length && prev.every((c, k) => c.code === char.styles[k].code && c.endCode === char.styles[k].endCode))) ret += ansiCodesToString(diffAnsiCodes(prev, char.styles));',
    min: 1,
  },
  // No top-level await, so that the bundle can be CommonJS (require()d without the ESM loader).
  // Ink's DEV=true (React DevTools, the only awaited imports) is off in this bundle whatever the
  // environment says: a DEV=true left in a shell must not change what `open` loads.
  { file: /ink[\\/]build[\\/]utils\.js$/, from: "process.env['DEV'] === 'true'", to: 'false', min: 1 },
  { file: /ink[\\/]build[\\/]reconciler\.js$/, from: "await import('./devtools.js');", to: 'void 0;', min: 1 },
  { file: /ink[\\/]build[\\/]reconciler\.js$/, from: '? await loadPackageJson()', to: '? undefined', min: 1 },
  // yoga-layout awaits its wasm; emscripten's instantiateWasm hook lets it start synchronously.
  { file: /yoga-layout[\\/]dist[\\/]binaries[\\/]yoga-wasm-base64-esm\.js$/, from: /H="(data:application\/octet-stream;base64,[A-Za-z0-9+/=]+)"/, to: 'H=YOGA_WASM_DATA_URI', min: 1, hoist: (m) => `export const YOGA_WASM_DATA_URI = "${m[1]}";\n` },
  {
    file: /yoga-layout[\\/]dist[\\/]src[\\/]index\.js$/,
    from: "import loadYoga from '../binaries/yoga-wasm-base64-esm.js';",
    to: "import loadYoga, { YOGA_WASM_DATA_URI } from '../binaries/yoga-wasm-base64-esm.js';",
    min: 1,
  },
  {
    file: /yoga-layout[\\/]dist[\\/]src[\\/]index\.js$/,
    from: 'const Yoga = wrapAssembly(await loadYoga());',
    to: `const yogaModule = { instantiateWasm(imports, receive) {
  const bytes = Buffer.from(YOGA_WASM_DATA_URI.slice(YOGA_WASM_DATA_URI.indexOf(',') + 1), 'base64');
  receive(new WebAssembly.Instance(new WebAssembly.Module(bytes), imports));
  return {};
} };
loadYoga(yogaModule);
if (!yogaModule.calledRun) throw new Error('yoga-layout did not start synchronously');
const Yoga = wrapAssembly(yogaModule);`,
    min: 1,
  },
  { file: /ansi-tokenize[\\/]build[\\/]styledChars\.js$/, from: 'ret += ansiCodesToString(diffAnsiCodes(char.styles, []));', to: 'if (char.styles.length) ret += ansiCodesToString(diffAnsiCodes(char.styles, []));', min: 1 },
];

const patchInk = {
  name: 'autopsy-ink-patches',
  setup(b) {
    const applied = new Map(PATCHES.map((p) => [p, 0]));
    b.onLoad({ filter: /node_modules[\\/].*\.js$/ }, async (args) => {
      let text = await readFile(args.path, 'utf8');
      let changed = false;
      for (const p of PATCHES) {
        if (!p.file.test(args.path)) continue;
        const n = typeof p.from === 'string' ? text.split(p.from).length - 1 : (text.match(new RegExp(p.from, 'g')) ?? []).length;
        if (!n) continue;
        const hoisted = p.hoist ? p.hoist(text.match(p.from)) : '';
        text = hoisted + (typeof p.from === 'string' ? text.split(p.from).join(p.to) : text.replace(p.from, p.to));
        applied.set(p, applied.get(p) + n);
        changed = true;
      }
      return changed ? { contents: text, loader: 'js' } : undefined;
    });
    b.onEnd((r) => {
      if (r.errors.length) return;
      for (const [p, n] of applied) if (n < p.min) throw new Error(`bundle-ink: patch applied ${n} times, expected ${p.min} or more: ${String(p.from)} (did Ink's dependencies change?)`);
    });
  },
};

rmSync('dist/vendor/ink', { recursive: true, force: true });
await build({
  entryPoints: ['node_modules/ink/build/index.js'],
  outfile: 'dist/vendor/ink/index.cjs',
  bundle: true,
  platform: 'node',
  // CommonJS (with the patches above): open.ts require()s it, without the ESM loader. No code cache
  // on Node 20 (it has no module compile cache): a V8 cache made at build time cut the bundle's load
  // from ~85-115 to ~70-85 ms of CPU, but the first screen did not measurably change (docs/performance.md).
  format: 'cjs',
  target: 'node20',
  external: ['react', 'react-devtools-core'],
  // React's production builds: open.ts sets NODE_ENV=production before React loads, so React and
  // this reconciler agree (a production reconciler with a development React renders nothing).
  // yoga-layout's emscripten loader fetch()es its wasm when fetch exists (unused with the patch).
  define: { 'process.env.NODE_ENV': '"production"', fetch: 'undefined', 'import.meta.url': 'undefined' },
  plugins: [patchInk],
  banner: { js: SEGMENTER },
  logLevel: 'warning',
});
