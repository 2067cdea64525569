/**
 * `open` end to end: bad input, the summary without a terminal, unpacked folders and reports, the heap
 * worker on a real snapshot, and a real terminal in tmux (alt screen entered and left, views, search,
 * resize, quit, SIGTERM).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTarGz } from '../src/bundle/tar';
import { WorkerHeapSession } from '../src/tui/heap-session';
import { CLI, runCli, runNode, tempDir } from './helpers';
import { syntheticBundle } from './tui-fixtures';

const dir = tempDir('autopsy-tui-');

/** The synthetic bundle as a real .tgz (manifest first), and unpacked as a folder. */
function writeBundle(evil = false): { tgz: string; folder: string } {
  const b = syntheticBundle({ evil });
  const entries = [...b.json].map(([name, v]) => ({ name, data: Buffer.from(JSON.stringify(v)) }));
  // As the writer does: the manifest lists every entry (open reads the JSON entries it lists).
  const manifest = { ...b.manifest, files: entries.map((e) => ({ name: e.name, size: e.data.length, sha256: createHash('sha256').update(e.data).digest('hex') })) };
  const files = [{ name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) }, ...entries];
  const tgz = join(dir, `bundle${evil ? '-evil' : ''}.tgz`);
  writeFileSync(tgz, createTarGz(files));
  const folder = join(dir, `unpacked${evil ? '-evil' : ''}`);
  mkdirSync(folder, { recursive: true });
  for (const f of files) writeFileSync(join(folder, f.name), f.data);
  return { tgz, folder };
}

/** Resolves when the worker session is ready; rejects with its error. */
function untilReady(s: WorkerHeapSession): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const off = s.subscribe(() => {
      const st = s.getState();
      if (st.status === 'ready') resolve(off());
      if (st.status === 'error') reject(new Error(st.error));
    });
  });
}

describe('open without a terminal', () => {
  it('prints the summary of a bundle and of an unpacked bundle folder', async () => {
    const { tgz, folder } = writeBundle();
    for (const input of [tgz, folder]) {
      const r = await runCli(['open', input]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^uncaught-exception in billing@1\.2\.3 \(pid 4242 on web-1/);
      assert.match(r.stdout, /Caused by:\nDatabaseError: connection reset/);
    }
  });

  it('prints the sections of a diagnostic report', async () => {
    const report = join(dir, 'report.json');
    writeFileSync(report, JSON.stringify(syntheticBundle().json.get('report.json')));
    const r = await runCli(['open', report]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Process\n  event: JavaScript API/);
    assert.match(r.stdout, /API_TOKEN=\[redacted\]/);
  });

  it('reads only the front of a bundle: a heap entry cut short does not stop it opening', async () => {
    // The JSON entries come before the snapshot; the snapshot is the worker's business, after the
    // first frame. Random bytes do not compress, so cutting the archive in half cuts inside the heap.
    const b = syntheticBundle();
    const entries = [...b.json].map(([name, v]) => ({ name, data: Buffer.from(JSON.stringify(v)) }));
    const heap = { name: 'heap/big.heapsnapshot.gz', data: randomBytes(2 * 1024 * 1024) };
    const listed = [...entries, heap].map((e) => ({ name: e.name, size: e.data.length, sha256: '' }));
    const whole = createTarGz([{ name: 'manifest.json', data: Buffer.from(JSON.stringify({ ...b.manifest, files: listed })) }, ...entries, heap]);
    const cut = join(dir, 'cut-heap.tgz');
    writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    const r = await runCli(['open', cut]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^uncaught-exception in billing@1\.2\.3/);
    assert.match(r.stdout, /Caused by:\nDatabaseError: connection reset/);
  });

  it('a manifest that lists no files: the whole archive is read', async () => {
    const b = syntheticBundle();
    const files = [{ name: 'manifest.json', data: Buffer.from(JSON.stringify({ ...b.manifest, files: [] })) }, ...[...b.json].map(([name, v]) => ({ name, data: Buffer.from(JSON.stringify(v)) }))];
    const tgz = join(dir, 'unlisted.tgz');
    writeFileSync(tgz, createTarGz(files));
    const r = await runCli(['open', tgz]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Caused by:\nDatabaseError: connection reset/);
  });

  it('bad input: one line on stderr, exit 1, no stack', async () => {
    const notBundle = join(dir, 'x.json');
    writeFileSync(notBundle, '{"hello": 1}');
    const trunc = join(dir, 'trunc.tgz');
    writeFileSync(trunc, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]));
    for (const [input, re] of [[join(dir, 'missing.tgz'), /no such file/], [notBundle, /not a bundle, a heap snapshot, a diagnostic report or a core file/], [trunc, /bad bundle|truncated|unexpected end/i], [dir, /has no manifest\.json/], [process.execPath, /is an ELF file but not a core/]] as const) {
      const r = await runCli(['open', input]);
      assert.equal(r.code, 1, `${input}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});

describe('the hook stays free of the UI', () => {
  it('loading the hook loads neither Ink, React nor src/tui', async () => {
    const out = execFileSync(process.execPath, ['--require', join(__dirname, '..', 'src', 'hook', 'index.js'), '-e', 'process.stdout.write(JSON.stringify(Object.keys(require.cache)))'], { encoding: 'utf8', env: { PATH: process.env.PATH, AUTOPSY_DIR: dir } });
    const loaded: string[] = JSON.parse(out);
    assert.ok(loaded.some((f) => f.includes('/hook/')), 'the hook was loaded');
    assert.deepEqual(loaded.filter((f) => /node_modules\/(ink|react)|\/tui\//.test(f)), []);
  });
});

describe('heap worker on a real snapshot', () => {
  let snap = '';
  before(async () => {
    snap = join(dir, 'app.heapsnapshot');
    const script = join(dir, 'leaky.js');
    writeFileSync(script, `class TuiLeak { constructor(i) { this.i = i; this.pad = new Array(8).fill(i); } }\nglobalThis.pendingTuiLeaks = Array.from({ length: 1000 }, (_, i) => new TuiLeak(i));\nrequire('v8').writeHeapSnapshot(${JSON.stringify(snap)});\nfor (let i = 0; i < 500; i++) pendingTuiLeaks.push(new TuiLeak(i));\nrequire('v8').writeHeapSnapshot(${JSON.stringify(snap + '.2')});\n`);
    const r = await runNode(script);
    assert.equal(r.code, 0, r.stderr);
  });

  it('parses in a worker with progress, then answers instances, retainers and dominated children', async () => {
    const s = new WorkerHeapSession([{ path: snap, label: 'app.heapsnapshot' }]);
    const phases = new Set<string>();
    s.subscribe(() => phases.add(s.getState().phase ?? s.getState().status));
    s.start();
    await untilReady(s);
    try {
      assert.ok(phases.has('parse'), [...phases].join());
      const ready = s.getState().ready!;
      const row = ready.classes.find((c) => c.name === 'TuiLeak');
      assert.equal(row?.count, 1000);
      const t = await s.instances('TuiLeak');
      assert.equal(t.nodes.length, 1000);
      assert.equal(t.names[0], 'TuiLeak');
      const paths = await s.retainers(t.nodes[0]);
      assert.ok(paths.length >= 1);
      assert.ok(paths[0].steps.some((st) => st.edge === 'pendingTuiLeaks'), JSON.stringify(paths[0].steps.map((x) => x.edge)));
      const roots = await s.dominated(0);
      assert.ok(roots.nodes.length > 0);
    } finally {
      await s.close();
    }
  });
});

describe('heap worker: diff of two snapshots', () => {
  it('diffs the first snapshot against the second and lists the new objects', async () => {
    const snap = join(dir, 'app.heapsnapshot');
    const s = new WorkerHeapSession([{ path: snap, label: 'before' }, { path: snap + '.2', label: 'after' }]);
    s.start();
    await untilReady(s);
    try {
      const diff = s.getState().ready!.diff!;
      const row = diff.rows.find((r) => r.name === 'TuiLeak');
      assert.equal(row?.countDelta, 500);
      assert.equal(row?.newCount, 500);
      assert.equal(s.getState().ready!.classes.find((c) => c.name === 'TuiLeak')?.count, 1500, 'the class list is the later snapshot');
      assert.equal((await s.instances('TuiLeak', true)).nodes.length, 500);
    } finally {
      await s.close();
    }
  });
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const hasGdb = spawnSync('gdb', ['--version'], { stdio: 'ignore' }).status === 0;
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
const hasAddon = linuxX64 && (require('../src/native') as typeof import('../src/native')).loadNative().loaded;
const coreSkip = !hasAddon ? 'core dumps need Linux x64 and the native addon' : !hasGdb ? 'gdb not installed' : false;

/**
 * A core of a real process, taken while its main thread is blocked in renderInvoicePdf (no JIT
 * activity then). The addon's thread may signal before the script has left writeCore (the core then
 * shows that call, correctly): as test/core-walker.test.ts does, up to 3 cores are taken until the
 * V8 walker sees renderInvoicePdf.
 */
let realCore: Promise<string> | undefined;
function coreOfBusyProcess(): Promise<string> {
  realCore ??= (async () => {
    for (let attempt = 0; ; attempt++) {
      const core = join(dir, `busy-${attempt}.core`);
      const script = `const s = require(${JSON.stringify(require.resolve('../src/native'))}).loadNative();
        const keep = setInterval(() => {}, 1000);
        s.addon.writeCore({ path: ${JSON.stringify(core)}, note: 'node=' + process.version + '\\nexecPath=' + process.execPath + '\\nisolate=' + s.addon.mainIsolate + '\\n' }).then((r) => { console.log(JSON.stringify(r)); clearInterval(keep); });
        function renderInvoicePdf() { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000); }
        renderInvoicePdf();`;
      const r = await runNode('-e', { args: [script], timeoutMs: 120_000 });
      assert.equal(JSON.parse(r.stdout).ok, true, r.stdout + r.stderr);
      // The walker alone (no gdb on this PATH) says quickly where the thread was.
      const j = await runCli(['core', core, '--json', '--no-objects'], { env: { PATH: '/nonexistent' }, timeoutMs: 60_000 });
      if (/"function": "renderInvoicePdf"/.test(j.stdout) || attempt === 2) return core;
    }
  })();
  return realCore;
}

describe('open a core without a terminal', { skip: coreSkip }, () => {
  it('prints the stack view that `core` prints', async () => {
    const core = await coreOfBusyProcess();
    const r = await runCli(['open', core], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^core .*busy-\d\.core \(/);
    assert.match(r.stdout, /^Main thread, (native|native and JS) frames \(gdb: used/m);
  });
});

describe('open in a real terminal (tmux)', { skip: hasTmux ? false : 'tmux is not installed' }, () => {
  // One tmux server per test, on its own socket: never the user's server, and no kill/start race.
  let n = 0;
  let sock = '';
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', sock, ...args], { encoding: 'utf8' });
  const capture = () => tmux('capture-pane', '-p');
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  async function waitFor(re: RegExp, ms = 15_000): Promise<string> {
    const end = Date.now() + ms;
    let last = '';
    while (Date.now() < end) {
      last = capture();
      if (re.test(last)) return last;
      await sleep(50);
    }
    throw new Error(`timed out waiting for ${re}; screen:\n${last}`);
  }
  const alt = () => tmux('display', '-p', '#{alternate_on}').trim();
  after(() => {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
  });

  async function open(input: string, cols = 80, rows = 24): Promise<void> {
    if (sock) {
      try {
        tmux('kill-server');
      } catch {
        // already gone
      }
    }
    sock = `autopsy-tui-${process.pid}-${++n}`;
    // A shell line before the UI: it must be on screen again after the UI leaves the alternate screen.
    const cmd = `echo BEFORE-UI; ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} open ${JSON.stringify(input)}; echo EXITED:$?; sleep 600`;
    // CI=true as in a build shell: Ink would then draw nothing until exit (a blank screen in .ci/run).
    execFileSync('tmux', ['-L', sock, '-f', '/dev/null', 'new-session', '-d', '-x', String(cols), '-y', String(rows), '-e', 'NO_COLOR=', '-e', 'CI=true', 'sh', '-c', cmd]);
    await waitFor(/1 Overview/);
  }

  it('opens, switches views, searches, follows a resize, quits and restores the terminal', async () => {
    const { tgz } = writeBundle(true);
    await open(tgz);
    assert.equal(alt(), '1', 'runs on the alternate screen');
    let s = capture();
    assert.doesNotMatch(s, /BEFORE-UI/);
    assert.match(s, /cannot render invoice A-1001\\x1b\]0;pwned/, 'escapes from the bundle are drawn escaped');
    assert.ok(s.split('\n').filter((l) => l.trim()).length <= 23);
    tmux('send-keys', '2');
    s = await waitFor(/Caused by DatabaseError/);
    tmux('send-keys', '4');
    await waitFor(/events: \d+/);
    tmux('send-keys', '/');
    tmux('send-keys', '-l', 'http');
    tmux('send-keys', 'Enter');
    s = await waitFor(/events matching "http": 1/);
    assert.match(s, /GET db\.internal\/customers\/42 error ECONNRESET/);
    tmux('resize-window', '-x', '100', '-y', '30');
    s = await waitFor(/heap +[▁▂▃▄▅▆▇█ ]{70,}/);
    for (const l of s.split('\n')) assert.ok([...l].length <= 100);
    tmux('resize-window', '-x', '60', '-y', '16');
    s = await waitFor(/^.{0,60}$/m);
    await sleep(300);
    s = capture();
    assert.match(s.split('\n')[0], /1 Overview/);
    tmux('send-keys', '5');
    await waitFor(/^Process/m);
    tmux('send-keys', 'q');
    s = await waitFor(/EXITED:0/);
    assert.equal(alt(), '0', 'left the alternate screen');
    assert.match(s, /BEFORE-UI/, 'the shell screen is back');
    assert.doesNotMatch(s, /1 Overview/);
    assert.equal(tmux('display', '-p', '#{cursor_flag}').trim(), '1', 'cursor visible again');
    assert.doesNotMatch(tmux('display', '-p', '#{pane_title}'), /pwned/);
  });

  it('a core: "reading core..." first, then the stack from gdb and the V8 walker, the overview with the process', { skip: coreSkip }, async () => {
    const core = await coreOfBusyProcess();
    await open(core, 100, 30);
    let s = capture();
    assert.match(s, /reading core\.\.\. \d+ s|Main thread,/, 'the first frame does not wait for the inspection');
    s = await waitFor(/Main thread, /, 240_000);
    assert.match(s, /#0 /);
    // Where the thread was blocked: below Atomics.wait's native frames, deeper than one screen.
    const before = s;
    tmux('send-keys', '/');
    tmux('send-keys', '-l', 'renderInvoicePdf');
    tmux('send-keys', 'Enter');
    s = await waitFor(/search: "renderInvoicePdf"/);
    assert.match(s, /#\d+ +(JS )?renderInvoicePdf/, `the JS function the thread was blocked in; before the search:\n${before}`);
    tmux('send-keys', 'Escape');
    // Esc and 1 in one read would be Alt-1: wait for the Esc to be handled first.
    await waitFor(/\? help {2}q quit/);
    tmux('send-keys', '1');
    s = await waitFor(/^core dump busy-\d\.core of pid \d+/m);
    assert.match(s, /^backends  gdb: used/m);
    tmux('send-keys', 'q');
    await waitFor(/EXITED:0/);
    assert.equal(alt(), '0');
  });

  it('a core: q while it is being read quits at once and ends the debugger', { skip: coreSkip }, async () => {
    const core = await coreOfBusyProcess();
    await open(core, 100, 30);
    const shPid = tmux('display', '-p', '#{pane_pid}').trim();
    const node = execFileSync('pgrep', ['-P', shPid], { encoding: 'utf8' }).trim().split('\n')[0];
    tmux('send-keys', 'q');
    await waitFor(/EXITED:0/, 5000);
    await sleep(300);
    // Nothing started by that open is left: no inspection child, no gdb or lldb reading the core.
    const left = spawnSync('pgrep', ['-a', '-f', `(core-process|gdb|lldb)[^ ]* .*${core.replace(/[.]/g, '\\.')}`], { encoding: 'utf8' }).stdout.trim();
    assert.equal(left, '', `still running after quit (open was ${node}): ${left}`);
  });

  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
    it(`${signal} restores the terminal too`, async () => {
      const { tgz } = writeBundle();
      await open(tgz);
      assert.equal(alt(), '1');
      const shPid = tmux('display', '-p', '#{pane_pid}').trim();
      const node = execFileSync('pgrep', ['-P', shPid], { encoding: 'utf8' }).trim().split('\n')[0];
      process.kill(Number(node), signal);
      const s = await waitFor(new RegExp(`EXITED:${code}`));
      assert.equal(alt(), '0');
      assert.match(s, /BEFORE-UI/);
      assert.equal(tmux('display', '-p', '#{cursor_flag}').trim(), '1', 'cursor visible again');
    });
  }
});
