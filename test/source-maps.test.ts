import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { SourceMapGenerator } from 'source-map';
import ts from 'typescript';
import type { Frame } from '../src/bundle/types';
import { excerptsFor } from '../src/hook/excerpts';
import { clearSourceMapCache, decodeDataUrl, getSourceText, LIMITS, mapFrames, nodeMapsEnabled, urlFromTail } from '../src/hook/source-maps';
import { parseStack } from '../src/stack/parse-stack';

const root = mkdtempSync(join(tmpdir(), 'autopsy-sm-'));
after(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => clearSourceMapCache());

// The test process may itself have Node's source maps on (tsx turns them on); the stacks mapped here
// come from child processes that run without them.
const NOT_MAPPED = { alreadyMapped: false };

const APP_TS = `// A TypeScript app that crashes on a bad order.
interface Order {
  id: number;
  total: number;
}

function validate(order: Order): void {
  if (order.total < 0) {
    throw new RangeError(\`order \${order.id}: negative total\`); // THROW
  }
}

export function checkout(orders: Order[]): void {
  for (const o of orders) validate(o); // CALL
}
/*PADDING*/
checkout([{ id: 1, total: 10 }, { id: 2, total: -5 }]);
`;

let projects = 0;

interface Project {
  dir: string;
  tsFile: string;
  jsFile: string;
  mapFile: string;
  ts: string;
  js: string;
}

/** Compiles APP_TS from <dir>/src/app.ts to <dir>/dist/app.js with the given map options. */
function makeProject(options: ts.CompilerOptions, padding = ''): Project {
  const dir = join(root, `p${++projects}`);
  mkdirSync(join(dir, 'src'), { recursive: true });
  mkdirSync(join(dir, 'dist'), { recursive: true });
  const tsFile = join(dir, 'src', 'app.ts');
  const jsFile = join(dir, 'dist', 'app.js');
  const mapFile = `${jsFile}.map`;
  const source = APP_TS.replace('/*PADDING*/', padding);
  writeFileSync(tsFile, source);
  const out = ts.transpileModule(source, {
    fileName: tsFile,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, outDir: join(dir, 'dist'), rootDir: join(dir, 'src'), ...options },
  });
  writeFileSync(jsFile, out.outputText);
  if (out.sourceMapText) writeFileSync(mapFile, out.sourceMapText);
  return { dir, tsFile, jsFile, mapFile, ts: source, js: out.outputText };
}

/** Runs the generated JS in a child process without source-map support and parses the crash it prints. */
function crashFrames(jsFile: string): Frame[] {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [jsFile], { encoding: 'utf8', env, timeout: 20_000 });
  assert.equal(r.status, 1, r.stderr);
  const start = r.stderr.indexOf('RangeError: order 2');
  assert.ok(start >= 0, r.stderr);
  const stack = r.stderr.slice(start).split('\n\nNode.js ')[0];
  return parseStack(stack);
}

function lineOf(text: string, marker: string): number {
  return text.split('\n').findIndex((l) => l.includes(marker)) + 1;
}

function columnOf(text: string, marker: string, token: string): number {
  return text.split('\n')[lineOf(text, marker) - 1].indexOf(token) + 1;
}

function assertMappedCrash(p: Project, frames: Frame[], warnings: string[]): void {
  assert.deepEqual(warnings, []);
  const [top, caller] = frames;
  assert.equal(top.function, 'validate');
  assert.equal(top.file, p.tsFile);
  assert.equal(top.line, lineOf(p.ts, '// THROW'));
  assert.equal(top.column, columnOf(p.ts, '// THROW', 'new RangeError'));
  assert.equal(top.origin, 'app');
  assert.deepEqual(top.generated, { file: p.jsFile, line: lineOf(p.js, 'throw new RangeError'), column: columnOf(p.js, 'throw new RangeError', 'new RangeError') });
  assert.notEqual(top.generated?.line, top.line, 'the generated line differs, so the test proves a mapping happened');
  assert.equal(caller.function, 'checkout');
  assert.equal(caller.file, p.tsFile);
  assert.equal(caller.line, lineOf(p.ts, '// CALL'));
  const internal = frames.find((f) => f.origin === 'node');
  assert.ok(internal && !internal.generated && internal.file.startsWith('node:'));
}

test('separate .js.map file: a real crash maps to the .ts lines; excerpts come from disk', () => {
  const p = makeProject({ sourceMap: true });
  assert.match(p.js, /\/\/# sourceMappingURL=app\.js\.map\s*$/);
  const warnings: string[] = [];
  const frames = mapFrames(crashFrames(p.jsFile), warnings, NOT_MAPPED);
  assertMappedCrash(p, frames, warnings);

  const excerpts = excerptsFor(frames, { context: 2 }, warnings);
  assert.deepEqual(warnings, []);
  const throwLine = lineOf(p.ts, '// THROW');
  assert.deepEqual(excerpts[0], {
    file: p.tsFile,
    line: throwLine,
    startLine: throwLine - 2,
    lines: p.ts.split('\n').slice(throwLine - 3, throwLine + 2),
    from: 'disk',
  });
  assert.equal(excerpts[1].line, lineOf(p.ts, '// CALL'));
  assert.equal(excerpts.length, 3, JSON.stringify(excerpts.map((e) => [e.file, e.line])));
});

test('inline base64 map with sourcesContent: maps, and excerpts survive the .ts being deleted', () => {
  const p = makeProject({ inlineSourceMap: true, inlineSources: true });
  assert.match(p.js, /\/\/# sourceMappingURL=data:application\/json;base64,/);
  const warnings: string[] = [];
  const frames = mapFrames(crashFrames(p.jsFile), warnings, NOT_MAPPED);
  assertMappedCrash(p, frames, warnings);

  unlinkSync(p.tsFile);
  assert.equal(getSourceText(p.tsFile), p.ts);
  const excerpts = excerptsFor(frames, {}, warnings);
  assert.deepEqual(warnings, []);
  const throwLine = lineOf(p.ts, '// THROW');
  assert.equal(excerpts[0].from, 'sourcesContent');
  assert.equal(excerpts[0].file, p.tsFile);
  assert.equal(excerpts[0].line, throwLine);
  assert.equal(excerpts[0].lines[throwLine - excerpts[0].startLine], p.ts.split('\n')[throwLine - 1]);
  // The generated JS is still on disk but is not an app frame any more: only the .ts is excerpted.
  assert.ok(excerpts.every((e) => e.file === p.tsFile));
});

test('an inline map far larger than the tail window is still found', () => {
  const padding = Array.from({ length: 4000 }, (_, i) => `// padding line ${i} ${'x'.repeat(40)}`).join('\n');
  const p = makeProject({ inlineSourceMap: true, inlineSources: true }, padding);
  const lastLine = p.js.trimEnd().split('\n').pop() ?? '';
  assert.ok(lastLine.length > LIMITS.tailBytes * 2, `inline map comment is ${lastLine.length} chars`);
  const warnings: string[] = [];
  const frames = mapFrames(crashFrames(p.jsFile), warnings, NOT_MAPPED);
  assert.deepEqual(warnings, []);
  assert.equal(frames[0].file, p.tsFile);
  assert.equal(frames[0].line, lineOf(p.ts, '// THROW'));
  assert.equal(frames[1].line, lineOf(p.ts, '// CALL'));
});

test('file:// map URLs and charset variants of data URLs', () => {
  const p = makeProject({ sourceMap: true });
  const frames = crashFrames(p.jsFile);
  const mapText = readFileSync(p.mapFile, 'utf8');
  const base = p.js.replace(/\/\/# sourceMappingURL=.*\s*$/, '');
  const variants = [
    `//# sourceMappingURL=${pathToFileURL(p.mapFile).href}`,
    `//# sourceMappingURL=data:application/json;charset=utf-8;base64,${Buffer.from(mapText).toString('base64')}`,
    `//# sourceMappingURL=data:application/json;charset=utf8;base64,${Buffer.from(mapText).toString('base64')}`,
    `//# sourceMappingURL=data:application/json,${encodeURIComponent(mapText)}`,
    `//@ sourceMappingURL=app.js.map`,
    `//# sourceMappingURL=app.js.map\n//# sourceURL=app.js\n\n`,
  ];
  for (const comment of variants) {
    clearSourceMapCache();
    writeFileSync(p.jsFile, `${base}${comment}`);
    const warnings: string[] = [];
    const mapped = mapFrames(frames, warnings, NOT_MAPPED);
    assert.deepEqual(warnings, [], comment.slice(0, 80));
    assert.equal(mapped[0].file, p.tsFile, comment.slice(0, 80));
    assert.equal(mapped[0].line, lineOf(p.ts, '// THROW'), comment.slice(0, 80));
  }
});

/** A one-line "bundle" whose map says its first column comes from line 3, column 3 of `source`. */
function handMadeMap(name: string, sourceRoot: string | undefined, source: string, content?: string): string {
  const dir = join(root, `h${++projects}`);
  mkdirSync(dir, { recursive: true });
  const gen = new SourceMapGenerator({ file: `${name}.js`, ...(sourceRoot === undefined ? {} : { sourceRoot }) });
  gen.addMapping({ generated: { line: 1, column: 0 }, original: { line: 3, column: 2 }, source, name: 'boom' });
  if (content !== undefined) gen.setSourceContent(source, content);
  writeFileSync(join(dir, `${name}.js.map`), gen.toString());
  const js = join(dir, `${name}.js`);
  writeFileSync(js, `boom();\n//# sourceMappingURL=${name}.js.map\n`);
  return js;
}

function frameAt(file: string, fn = ''): Frame {
  return { function: fn, file, line: 1, column: 1, origin: 'app', async: false };
}

test('sources resolve against sourceRoot and the map folder; webpack:// URLs stay URLs', () => {
  const content = 'export {};\n\n  boom();\n';
  const cases: Array<[string | undefined, string, (dir: string) => string]> = [
    [undefined, '../src/a.ts', (dir) => join(dir, '..', 'src', 'a.ts')],
    ['', 'a.ts', (dir) => join(dir, 'a.ts')],
    ['/opt/build/', 'src/a.ts', () => '/opt/build/src/a.ts'],
    ['file:///opt/build', 'src/a.ts', () => '/opt/build/src/a.ts'],
    ['webpack://my-app/', './src/a.ts', () => 'webpack://my-app/src/a.ts'],
    [undefined, 'webpack:///./node_modules/lib/a.js', () => 'webpack:///node_modules/lib/a.js'],
  ];
  for (const [sourceRoot, source, expected] of cases) {
    const js = handMadeMap('bundle', sourceRoot, source, content);
    const warnings: string[] = [];
    const [frame] = mapFrames([frameAt(js)], warnings, NOT_MAPPED);
    const want = expected(join(js, '..'));
    assert.deepEqual(warnings, []);
    assert.equal(frame.file, want, `${sourceRoot} + ${source}`);
    assert.equal(frame.line, 3);
    assert.equal(frame.column, 3);
    // The map's name at a position is the callee, not the enclosing function: never taken.
    assert.equal(frame.function, '');
    assert.equal(frame.origin, want.includes('/node_modules/') ? 'node_modules' : 'app');
    assert.equal(getSourceText(want), content);
  }
});

test('a frame without a column maps to the first mapping on its line', () => {
  const dir = join(root, 'nocol');
  mkdirSync(dir, { recursive: true });
  const gen = new SourceMapGenerator({ file: 'x.js' });
  gen.addMapping({ generated: { line: 2, column: 4 }, original: { line: 7, column: 0 }, source: 'x.ts' });
  writeFileSync(join(dir, 'x.js.map'), gen.toString());
  writeFileSync(join(dir, 'x.js'), 'a();\n    b();\n//# sourceMappingURL=x.js.map\n');
  const warnings: string[] = [];
  const [frame] = mapFrames([{ function: 'b', file: join(dir, 'x.js'), line: 2, column: 0, origin: 'app' }], warnings, NOT_MAPPED);
  assert.deepEqual(warnings, []);
  assert.equal(frame.file, join(dir, 'x.ts'));
  assert.equal(frame.line, 7);
});

test('excerpts: webpack:// sources come from sourcesContent; long lines are cut; duplicates dropped', () => {
  const long = `  const s = "${'y'.repeat(1000)}";`;
  const content = ['line 1', long, '  boom();', 'line 4'].join('\n');
  const js = handMadeMap('wp', 'webpack://shop/', './src/cart.ts', content);
  const warnings: string[] = [];
  const frames = mapFrames([frameAt(js, 'cart'), frameAt(js, 'again')], warnings, NOT_MAPPED);
  const excerpts = excerptsFor(frames, { context: 1, maxLineLength: 50 }, warnings);
  assert.deepEqual(warnings, []);
  assert.equal(excerpts.length, 1);
  assert.equal(excerpts[0].file, 'webpack://shop/src/cart.ts');
  assert.equal(excerpts[0].from, 'sourcesContent');
  assert.equal(excerpts[0].startLine, 2);
  assert.equal(excerpts[0].lines[0].length, 50);
  assert.ok(excerpts[0].lines[0].endsWith('…'));
  assert.deepEqual(excerpts[0].lines.slice(1), ['  boom();', 'line 4']);
});

test('excerpts: only app frames, at most maxFrames, missing files give a warning', () => {
  const p = makeProject({ sourceMap: true });
  const frames: Frame[] = [
    { function: 'lib', file: '/x/node_modules/lib/index.js', line: 3, column: 1, origin: 'node_modules' },
    { function: 'int', file: 'node:internal/timers', line: 3, column: 1, origin: 'node' },
    { function: 'a', file: p.tsFile, line: 1, column: 1, origin: 'app' },
    { function: 'gone', file: join(p.dir, 'deleted.ts'), line: 1, column: 1, origin: 'app' },
    { function: 'b', file: p.tsFile, line: 9, column: 1, origin: 'app' },
    { function: 'c', file: p.tsFile, line: 14, column: 1, origin: 'app' },
  ];
  const warnings: string[] = [];
  const excerpts = excerptsFor(frames, { maxFrames: 2, context: 0 }, warnings);
  assert.deepEqual(
    excerpts.map((e) => [e.line, e.startLine, e.lines.length, e.from]),
    [
      [1, 1, 1, 'disk'],
      [9, 9, 1, 'disk'],
    ],
  );
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /^excerpt for .*deleted\.ts: ENOENT/);
  assert.deepEqual(excerptsFor([{ function: '', file: p.tsFile, line: 999, column: 1, origin: 'app' }], {}, warnings), []);
  assert.match(warnings[1], /has only \d+ lines/);
});

test('bad maps give one warning each and leave the frame as it was', () => {
  const dir = join(root, 'bad');
  mkdirSync(dir, { recursive: true });
  const cases: Array<[string, string, string | undefined, RegExp]> = [
    ['garbage', '//# sourceMappingURL=garbage.js.map', '{ this is not json', /JSON|Unexpected|Expected/],
    ['missing', '//# sourceMappingURL=nowhere.js.map', undefined, /ENOENT/],
    ['mappings', '//# sourceMappingURL=mappings.js.map', JSON.stringify({ version: 3, sources: ['a.ts'], names: [], mappings: '!!!!;;' }), /base64/i],
    ['version', '//# sourceMappingURL=version.js.map', JSON.stringify({ version: 2, sources: [], mappings: '' }), /version 2/],
    ['shape', '//# sourceMappingURL=shape.js.map', '[1,2,3]', /not a source map/],
    ['inline', `//# sourceMappingURL=data:application/json;base64,${Buffer.from('nope{').toString('base64')}`, undefined, /JSON|Unexpected/],
    ['nocomma', '//# sourceMappingURL=data:application/json;base64', undefined, /comma/],
    ['remote', '//# sourceMappingURL=https://cdn.example.com/app.js.map', undefined, /not a local file/],
  ];
  for (const [name, comment, mapText, expected] of cases) {
    const js = join(dir, `${name}.js`);
    writeFileSync(js, `boom();\n${comment}\n`);
    if (mapText !== undefined) writeFileSync(join(dir, `${name}.js.map`), mapText);
    const warnings: string[] = [];
    const frame = frameAt(js, 'f');
    const out = mapFrames([frame, frame], warnings, NOT_MAPPED);
    assert.deepEqual(out, [frame, frame], name);
    assert.equal(warnings.length, 1, `${name}: ${JSON.stringify(warnings)}`);
    assert.ok(warnings[0].startsWith(`source map for ${js}: `), warnings[0]);
    assert.match(warnings[0], expected, name);
    assert.ok(!warnings[0].includes('\n'));
  }
});

test('frames that cannot have a map are left alone without reading anything', () => {
  const plain = join(root, 'plain.js');
  writeFileSync(plain, 'boom();\n');
  const frames: Frame[] = [
    frameAt(plain),
    { function: 'x', file: 'node:fs', line: 1, column: 1, origin: 'node' },
    { function: '', file: '', line: 0, column: 0, origin: 'unknown', raw: 'garbage' },
    { function: 'e', file: 'eval at f (/a.js:1:1), <anonymous>', line: 1, column: 1, origin: 'unknown' },
    { function: 't', file: join(root, 'not-there.ts'), line: 1, column: 1, origin: 'app' },
  ];
  const warnings: string[] = [];
  assert.deepEqual(mapFrames(frames, warnings, NOT_MAPPED), frames);
  assert.deepEqual(warnings, []);
});

test('stacks Node already mapped are not mapped again; the time budget stops mapping', () => {
  const js = handMadeMap('again', undefined, 'a.ts');
  const frames = [frameAt(js)];
  const warnings: string[] = [];
  assert.equal(mapFrames(frames, warnings, { alreadyMapped: true }), frames);
  const late = mapFrames(frames, warnings, { alreadyMapped: false, budgetMs: -1 });
  assert.deepEqual(late, frames);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /out of time/);
});

test('nodeMapsEnabled reads process.sourceMapsEnabled, then execArgv and NODE_OPTIONS', () => {
  assert.equal(nodeMapsEnabled({ execArgv: [], env: {}, sourceMapsEnabled: true }), true);
  assert.equal(nodeMapsEnabled({ execArgv: ['--enable-source-maps'], env: {}, sourceMapsEnabled: false }), false);
  assert.equal(nodeMapsEnabled({ execArgv: ['--enable-source-maps'], env: {} }), true);
  assert.equal(nodeMapsEnabled({ execArgv: [], env: { NODE_OPTIONS: '--max-old-space-size=100 --enable-source-maps' } }), true);
  assert.equal(nodeMapsEnabled({ execArgv: ['--enable-source-maps'], env: { NODE_OPTIONS: '--no-enable-source-maps' } }), false);
  assert.equal(nodeMapsEnabled({ execArgv: [], env: {} }), false);
});

test('nodeMapsEnabled() with no argument looks at this process', () => {
  // tsx turns Node's source maps on, the compiled tests run without them: either way they must agree.
  assert.equal(nodeMapsEnabled(), process.sourceMapsEnabled);
});

test(`the map cache keeps at most ${LIMITS.cacheFiles} generated files`, () => {
  const files: string[] = [];
  for (let i = 0; i < LIMITS.cacheFiles + 5; i++) files.push(handMadeMap(`m${i}`, undefined, `s${i}.ts`, `// source ${i}\n\n  boom();\n`));
  const warnings: string[] = [];
  const mapped = mapFrames(files.map((f) => frameAt(f)), warnings, NOT_MAPPED);
  assert.deepEqual(warnings, []);
  assert.equal(getSourceText(mapped[0].file), undefined, 'the oldest map was dropped');
  assert.equal(getSourceText(mapped[mapped.length - 1].file), `// source ${files.length - 1}\n\n  boom();\n`);
  // A dropped map is loaded again on demand.
  assert.equal(mapFrames([frameAt(files[0])], warnings, NOT_MAPPED)[0].file, mapped[0].file);
  assert.equal(getSourceText(mapped[0].file), '// source 0\n\n  boom();\n');
});

test('urlFromTail and decodeDataUrl', () => {
  assert.equal(urlFromTail('x();\n//# sourceMappingURL=a.js.map\n', true), 'a.js.map');
  assert.equal(urlFromTail('x();\n/*# sourceMappingURL=a.css.map */\n', true), 'a.css.map');
  assert.equal(urlFromTail('x();\n//# sourceMappingURL=a.js.map\n//# debugId=123\n\n', true), 'a.js.map');
  assert.equal(urlFromTail('//# sourceMappingURL=a.js.map\nx();\n', true), undefined, 'only trailing comments count');
  assert.equal(urlFromTail('const s = "//# sourceMappingURL=fake.map";\n', true), undefined);
  assert.equal(urlFromTail('AAAA+/==\n', false), 'read more');
  assert.equal(urlFromTail('ingURL=data:application/json;base64,AAAA', false), 'read more');
  assert.equal(urlFromTail('a(b); c(d)', false), undefined);
  assert.equal(decodeDataUrl(`data:application/json;base64,${Buffer.from('{"a":1}').toString('base64')}`), '{"a":1}');
  assert.equal(decodeDataUrl('data:application/json;charset=UTF-8,%7B%22a%22%3A1%7D'), '{"a":1}');
  assert.equal(decodeDataUrl(`data:;base64,${Buffer.from('{}').toString('base64')}`), '{}');
  assert.throws(() => decodeDataUrl('data:image/png;base64,AAAA'), /media type/);
});
