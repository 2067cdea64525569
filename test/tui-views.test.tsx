/**
 * Every view and key, through ink-testing-library: its stdout has no rows, so the size is passed to
 * App, and each key is followed by a macrotask before the frame is read (Ink renders on the next tick).
 */
// ink-testing-library's stdout is no TTY: without this chalk would drop inverse video too.
process.env.FORCE_COLOR = '1';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { App, HELP } from '../src/tui/app';
import { loadInk } from '../src/tui/ink-runtime';
import type { CoreSession } from '../src/tui/core-session';
import type { HeapSession } from '../src/tui/heap-session';
import type { UiModel } from '../src/tui/model';
import { themeFor } from '../src/tui/theme';
import { FakeCoreSession, FakeHeapSession, syntheticCoreView, syntheticModel } from './tui-fixtures';

type Lib = typeof import('ink-testing-library', { with: { 'resolution-mode': 'import' } });
let lib: Lib;
const mounted: { unmount: () => void }[] = [];

before(async () => {
  await loadInk();
  lib = await import('ink-testing-library');
});
after(() => {
  for (const m of mounted) m.unmount();
});

const KEY = { down: '\x1b[B', up: '\x1b[A', pgdn: '\x1b[6~', pgup: '\x1b[5~', esc: '\x1b', enter: '\r', tab: '\t', shiftTab: '\x1b[Z', ctrlC: '\x03' };
const tick = (ms = 15) => new Promise((r) => setTimeout(r, ms));

async function mount(opts: { model?: UiModel; heap?: HeapSession; core?: CoreSession; columns?: number; rows?: number; view?: number; env?: NodeJS.ProcessEnv } = {}) {
  let quits = 0;
  const r = lib.render(
    <App model={opts.model ?? syntheticModel()} heap={opts.heap} core={opts.core} theme={themeFor(opts.env ?? {})} columns={opts.columns ?? 80} rows={opts.rows ?? 24} initialView={opts.view} onQuit={() => quits++} />,
  );
  mounted.push(r);
  await tick();
  return {
    frame: () => r.lastFrame() ?? '',
    async press(...keys: string[]) {
      for (const k of keys) {
        // Wait for the frame this key causes (React may flush on a later tick on a busy machine),
        // then for the output to settle; a key that changes nothing just waits out the limit.
        const before = r.frames.length;
        r.stdin.write(k);
        const start = Date.now();
        while (r.frames.length === before && Date.now() - start < 250) await tick(5);
        let n;
        do {
          n = r.frames.length;
          await tick(25);
        } while (r.frames.length !== n);
      }
      return r.lastFrame() ?? '';
    },
    quits: () => quits,
    /** Polls until the frame matches: for keys whose last effect comes after a wait (see app.tsx). */
    async until(re: RegExp, ms = 3000) {
      const end = Date.now() + ms;
      while (!re.test(plain(r.lastFrame())) && Date.now() < end) await tick(10);
      return r.lastFrame() ?? '';
    },
    r,
  };
}

/** The line holding the inverse-video selection. */
function selected(frame: string): string | undefined {
  return frame.split('\n').slice(1).find((l) => l.includes('\x1b[7m'));
}
const plain = (s: string | undefined) => (s ?? '').replace(/\x1b\[[0-9;]*m/g, '');

describe('tui: frame and global keys', () => {
  it('draws the tabs, the overview and the status line, within rows - 1', async () => {
    const ui = await mount();
    const lines = ui.frame().split('\n');
    assert.ok(lines.length <= 23, `root must stay below the terminal height, got ${lines.length} lines`);
    assert.match(plain(lines[0]), /1 Overview .*2 Stack .*3 Objects .*4 Timeline .*5 Report/);
    assert.match(ui.frame(), /cannot render invoice A-1001/);
    assert.match(plain(lines.at(-1)), /autopsy-test\.tgz .*\? help .*q quit/);
    assert.deepEqual(lines.filter((l) => !/^[\x00-\x7e]*$/.test(l)), [], 'the first screen is ASCII (see app.tsx)');
  });

  it('1-5, Tab and Shift-Tab switch views', async () => {
    const ui = await mount();
    assert.match(await ui.press('2'), /Caused by DatabaseError/);
    assert.match(await ui.press('3'), /No heap snapshot/);
    assert.match(await ui.press('4'), /events: \d+/);
    assert.match(await ui.press('5'), /libuv handles/);
    assert.match(await ui.press('1'), /Findings/);
    assert.match(await ui.press(KEY.tab), /Caused by DatabaseError/);
    assert.match(await ui.press(KEY.shiftTab), /Findings/);
  });

  it('Esc and a key typed at once (one read: Alt+key to Ink) act as Esc, then the key', async () => {
    const ui = await mount();
    await ui.press('5');
    assert.match(await ui.press('\x1b2'), /Caused by DatabaseError/);
    // In a search, Esc ends it and the key is a command again.
    await ui.press('4', '/', 'x');
    assert.match(await ui.press('\x1b1'), /Findings/);
  });

  it('? shows the help, any key closes it; q and Ctrl-C quit', async () => {
    const ui = await mount();
    const help = await ui.press('?');
    for (const h of HELP.slice(0, 5)) assert.ok(plain(help).includes(h), h);
    assert.doesNotMatch(await ui.press('j'), /PgUp\/PgDn/);
    await ui.press('q');
    assert.equal(ui.quits(), 1);
    await ui.press(KEY.ctrlC);
    assert.equal(ui.quits(), 2);
  });

  it('/ searches the current view: typing filters, Enter keeps it, Esc clears it', async () => {
    const ui = await mount({ view: 3 });
    let f = await ui.press('/', 'g', 'c');
    assert.match(plain(f), /\/gc█/);
    f = await ui.press(KEY.enter);
    assert.match(plain(f), /events matching "gc": 1/);
    assert.match(plain(f), /search: "gc"/);
    f = await ui.press(KEY.esc);
    assert.doesNotMatch(plain(f), /matching/);
    // Keys typed fast arrive in one string: "/" then the query then Enter.
    await ui.press('/http\r');
    assert.match(plain(await ui.until(/events matching "http": 1/)), /events matching "http": 1/);
  });

  it('search text is not a command: q while searching types q', async () => {
    const ui = await mount();
    await ui.press('/', 'q');
    assert.equal(ui.quits(), 0);
    await ui.press(KEY.esc);
  });

  it('follows a resize and works at 80x24 and below', async () => {
    const ui = await mount({ columns: 80, rows: 24 });
    ui.r.rerender(<App model={syntheticModel()} theme={themeFor({})} columns={60} rows={12} onQuit={() => {}} />);
    await tick();
    const lines = ui.frame().split('\n');
    assert.ok(lines.length <= 11);
    for (const l of lines) assert.ok(plain(l).length <= 60, `line wider than 60: ${plain(l)}`);
  });
});

describe('tui: sanitising and NO_COLOR', () => {
  it('never draws a raw escape from the bundle', async () => {
    const ui = await mount({ model: syntheticModel({ evil: true }), heap: undefined });
    for (const k of ['1', '2', '4', '5']) {
      const f = await ui.press(k);
      assert.doesNotMatch(f, /\x1b\]0;|\x1b\[2J|\x07/);
    }
    assert.match(await ui.press('2'), /\\x1b\]0;pwned/);
  });

  it('NO_COLOR drops colours but keeps the selection visible', async () => {
    const ui = await mount({ env: { NO_COLOR: '1' } });
    const f = ui.frame();
    assert.doesNotMatch(f, /\x1b\[3[0-9]m|\x1b\[9[0-7]m|\x1b\[38;/);
    assert.match(f, /\x1b\[7m/);
    const colored = await mount({ env: {} });
    assert.match(colored.frame(), /\x1b\[3[0-9]m|\x1b\[9[0-7]m/);
  });
});

describe('tui: views', () => {
  it('Overview: findings from the timeline (memory rising, loop delay, warnings, http)', async () => {
    const f = plain((await mount()).frame());
    assert.match(f, /memory growing: RSS [\d.]+ MB, rising [\d.]+ MB\/min/);
    assert.match(f, /event loop delay p99 up to 900 ms/);
    assert.match(f, /MaxListenersExceededWarning emitted/);
    assert.match(f, /1 HTTP request failed \(db\.internal\)/);
    assert.match(f, /process +pid 4242, ppid 1 on web-1/);
  });

  it('Overview: j/k, PgDn/PgUp, g/G move the selection', async () => {
    const ui = await mount();
    const first = plain(selected(ui.frame()));
    assert.notEqual(plain(selected(await ui.press('j'))), first);
    assert.equal(plain(selected(await ui.press('k'))), first);
    const last = plain(selected(await ui.press('G')));
    assert.notEqual(last, first);
    assert.equal(plain(selected(await ui.press('g'))), first);
    assert.notEqual(plain(selected(await ui.press(KEY.pgdn))), first);
    assert.equal(plain(selected(await ui.press(KEY.pgup))), first);
    assert.notEqual(plain(selected(await ui.press('jjj'))), plain(selected(await ui.press('k'))), 'several keys in one string each count');
  });

  it('Stack: frames of the chain, source-mapped, with the excerpt of the selected frame', async () => {
    const ui = await mount({ view: 1 });
    let f = plain(ui.frame());
    assert.match(f, /fetchCustomer \(src\/db\.ts:20:9\)  \[dist\/db\.js:18:11\]/);
    assert.match(f, /async runJob/);
    assert.match(f, /processTimers \(node:internal\/timers:519:7\)  node/);
    // Down to fetchCustomer: its excerpt appears with the line marked.
    for (let i = 0; i < 8 && !/> 20 \|/.test(f); i++) f = plain(await ui.press(KEY.down));
    assert.match(f, /> 20 \|   throw new DatabaseError/);
    assert.match(plain(await ui.press(KEY.up)), /Caused by DatabaseError/);
  });

  it('Timeline: sparklines, marks and the event list; Enter shows an event, Esc hides it', async () => {
    const ui = await mount({ view: 3 });
    const f = plain(ui.frame());
    assert.match(f, /heap +[▁▂▃▄▅▆▇█ ]+ +[\d.]+ MB/);
    assert.match(f, /rss +[▁▂▃▄▅▆▇█ ]+/);
    assert.match(f, /elu +[▁▂▃▄▅▆▇█ ]+ +\d+%/);
    assert.match(f, /delay +[▁▂▃▄▅▆▇█ ]+ +p99/);
    assert.match(f, /marks .*B.*G.*W.*T/);
    let g = plain(await ui.press('/myst\r'));
    assert.match(g, /events matching "myst": 1/);
    assert.match(plain(selected(ui.frame())), /mystery-kind +\{"payload":"kept as \\u001b\[31mdata"\}/);
    g = plain(await ui.press(KEY.esc, 'G', KEY.enter));
    assert.match(g, /"kind":"trigger"/);
    assert.doesNotMatch(plain(await ui.press(KEY.esc)), /"kind":"trigger"/);
  });

  it('Report: sections, environment redacted, ] and [ jump between sections', async () => {
    const ui = await mount({ view: 4 });
    let f = plain(ui.frame());
    assert.match(f, /^Process/m);
    assert.match(f, /libuv handles \(2\)/);
    assert.match(f, /tcp +active +local 0\.0\.0\.0:8080/);
    f = plain(await ui.press('G'));
    assert.match(f, /API_TOKEN=\[redacted\]/);
    assert.doesNotMatch(f, /sekrit/);
    await ui.press('g');
    assert.match(plain(selected(await ui.press(']'))), /^Resource usage|^libuv|^Environment/);
    assert.match(plain(selected(await ui.press('['))), /^Process/);
  });
});

describe('tui: Objects view', () => {
  it('shows progress while the worker parses, then the class summary; the worker starts after the first frame', async () => {
    const heap = new FakeHeapSession();
    const ui = await mount({ model: syntheticModel({ heaps: 1 }), heap, view: 2 });
    assert.equal(heap.started, 0, 'not before the first frame');
    await tick(60);
    assert.equal(heap.started, 1);
    heap.set({ status: 'loading', label: 'heap/a.heapsnapshot.gz', phase: 'parse', done: 0.4 });
    await tick();
    assert.match(plain(ui.frame()), /parsing heap\/a\.heapsnapshot\.gz\n\[#+-+\] 40%/);
    heap.set({ status: 'loading', label: 'heap/a.heapsnapshot.gz', phase: 'dominators', done: 0 });
    await tick();
    assert.match(plain(ui.frame()), /parsed heap\/a\.heapsnapshot\.gz; computing dominators…/);
    // Other views work meanwhile.
    assert.match(await ui.press('2'), /Caused by DatabaseError/);
    heap.finish();
    const f = plain(await ui.press('3'));
    assert.match(f, /Classes +\(4\)/);
    assert.match(f, /Order +12,000 +937\.5 KB +48\.0 MB/);
    assert.match(f, /Evil\\x1b\[2Jname/);
    assert.match(plain(await ui.press('1')), /largest in the heap: Order retains 48\.0 MB/);
  });

  it('s sorts, / filters, Enter drills class → instances → retainers → dominated, Esc walks back', async () => {
    const heap = new FakeHeapSession();
    const ui = await mount({ model: syntheticModel({ heaps: 1 }), heap, view: 2 });
    heap.finish();
    await tick();
    assert.match(plain(await ui.press('s')), /sort: self/);
    assert.match(plain(await ui.press('s')), /sort: count/);
    assert.match(plain(selected(ui.frame())), /^Order/);
    assert.match(plain(await ui.press('s')), /sort: name/);
    assert.match(plain(selected(ui.frame())), /^\(string\)/);
    let f = plain(await ui.press('/', 'o', 'r', 'd', KEY.enter));
    assert.match(f, /Classes +\(1 of 4\)/);
    f = plain(await ui.press(KEY.enter));
    assert.match(f, /Classes › Order +\(100,000\)/);
    assert.match(plain(selected(ui.frame())), /^Order @1000 +80 B +3\.9 KB/);
    f = plain(await ui.press(KEY.enter));
    assert.match(f, /retainers of Order @1000/);
    assert.match(f, /← \[12\] in Array @77/);
    assert.match(f, /← pendingOrders in Object @88/);
    f = plain(await ui.press('j', KEY.enter));
    assert.match(f, /dominated by \[12\] in Array @77/);
    assert.match(f, /Line @1000/);
    f = plain(await ui.press(KEY.esc, KEY.esc, KEY.esc));
    assert.match(f, /Classes +\(1 of 4\)/);
    assert.match(plain(await ui.press(KEY.esc)), /Classes +\(4\)/, 'Esc at the top clears the search');
    assert.match(plain(await ui.press('t')), /dominated by \(GC roots\).*\n.*\n.*Window @1000/s);
  });

  it('windows a 100k-row list: PgDn and G stay fast and draw only visible rows', async () => {
    const heap = new FakeHeapSession();
    const ui = await mount({ model: syntheticModel({ heaps: 1 }), heap, view: 2 });
    heap.finish();
    await tick();
    await ui.press(KEY.enter);
    await tick(30);
    let f = plain(await ui.press('G'));
    assert.match(plain(selected(ui.frame())), /^Order @200998 /);
    assert.ok(f.split('\n').length <= 23);
    f = plain(await ui.press(KEY.pgup));
    assert.match(plain(selected(ui.frame())), /^Order @\d+ /);
  });

  it('d switches to the diff when there are two snapshots; Enter lists the new objects', async () => {
    const heap = new FakeHeapSession([{ path: 'a', label: 'heap/a' }, { path: 'b', label: 'heap/b' }], 10, true);
    const ui = await mount({ model: syntheticModel({ heaps: 2 }), heap, view: 2 });
    heap.finish();
    await tick();
    assert.match(plain(await ui.press('1')), /heap \+48\.0 MB between snapshots: Order \+12,000, held by pendingOrders/);
    let f = plain(await ui.press('3', 'd'));
    assert.match(f, /Diff/);
    assert.match(f, /Order +100 +\+12,000 +\+48\.0 MB +12,000/);
    f = plain(await ui.press(KEY.enter));
    assert.match(f, /new Order/);
    assert.match(plain(await ui.press(KEY.esc, 'd')), /Classes +\(4\)/);
  });

  it('keys in one read are handled in order: "jjj\\r" opens the fourth class, not the first', async () => {
    const heap = new FakeHeapSession(undefined, 5);
    const ui = await mount({ model: syntheticModel({ heaps: 1 }), heap, view: 2 });
    heap.finish();
    await tick();
    await ui.press('jjj\r');
    const f = plain(await ui.until(/Classes › Evil/));
    assert.match(f, /Classes › Evil\\x1b\[2Jname +\(5\)/);
  });

  it('says so when the input has no heap snapshot', async () => {
    const ui = await mount({ view: 2 });
    assert.match(plain(ui.frame()), /No heap snapshot in this input/);
  });
});

describe('tui: a core', () => {
  const model: UiModel = { title: 'app.core', kind: 'core', events: [], heaps: [], core: { path: '/tmp/app.core', size: 75 * 1024 * 1024 } };

  it('the first frame says the core is being read; the inspection starts after it', async () => {
    const core = new FakeCoreSession();
    const ui = await mount({ model, core, view: 1 });
    assert.match(plain(ui.frame()), /reading core\.\.\. 0 s \(gdb: native frames; V8 walker, llnode: JS frames\)/);
    await ui.until(/reading core/);
    await tick(60);
    assert.equal(core.started, 1);
    core.set({ status: 'loading', seconds: 3 });
    assert.match(plain(await ui.until(/reading core\.\.\. 3 s/)), /reading core\.\.\. 3 s/);
  });

  it('Stack: native frames (gdb) and JS frames (V8 walker); the detail pane describes the selected frame', async () => {
    const core = new FakeCoreSession();
    const ui = await mount({ model, core, view: 1, columns: 120 });
    core.set({ status: 'ready', view: syntheticCoreView() });
    let f = plain(await ui.until(/renderInvoicePdf/));
    assert.match(f, /Main thread, native frames \(gdb: used, llnode: not installed\)/);
    assert.match(f, /#0 {3}C {2}uv__io_poll {2}\.\.\/deps\/uv\/src\/unix\/linux\.c:1368/);
    assert.match(f, /Main thread, JS frames \(V8 metadata walker, from c_entry_fp at isolate\+384 \(known\)\)/);
    assert.match(f, /#0 {3}renderInvoicePdf {2}\/srv\/app\/server\.js:7/);
    assert.match(f, /Server\.<anonymous>\\x1b\]0;pwned/, 'names from the core are drawn escaped');
    assert.match(selected(ui.frame()) ?? '', /uv__io_poll/, 'starts on the first frame');
    assert.match(f, /native frame #0, from gdb/);
    for (let i = 0; i < 6 && !/JS frame #0, from the V8 walker/.test(f); i++) f = plain(await ui.press(KEY.down));
    assert.match(f, /script {4}\/srv\/app\/server\.js/);
    assert.match(f, /defined {3}line 7/);
  });

  it('Overview: the headline and the process facts from the core notes', async () => {
    const core = new FakeCoreSession();
    const ui = await mount({ model, core });
    core.set({ status: 'ready', view: syntheticCoreView() });
    const f = plain(await ui.until(/main thread in JS/));
    assert.match(f, /core dump app\.core of pid 4242 \(node v20\.20\.2\)/);
    assert.match(f, /- main thread in JS: renderInvoicePdf \(\/srv\/app\/server\.js:7\)/);
    assert.match(f, /process {3}pid 4242  node \/srv\/app\/server\.js/);
    assert.match(f, /binary {4}\/usr\/bin\/node \(build-id ebeaf2df\)/);
    assert.match(f, /core {6}75\.0 MB apparent, 1 thread, 87 segments, 9 mapped files/);
    assert.match(f, /backends  gdb: used, llnode: not installed, V8 walker: 2 frames/);
  });

  it('no backend: one clear line in the Overview and the Stack; an inspection error likewise', async () => {
    const core = new FakeCoreSession();
    const ui = await mount({ model, core, view: 1 });
    core.set({ status: 'ready', view: syntheticCoreView({ backends: false }) });
    let f = plain(await ui.until(/no stack backend/));
    assert.match(f, /^no stack backend: install gdb for native frames or llnode for JS frames$/m, 'whole, at 80 columns');
    assert.match(f, /^note: JS frames: this node binary lacks V8 postmortem constants/m);
    f = plain(await ui.press('1'));
    assert.match(f, /^- no stack backend: install gdb for native frames or llnode for JS frames$/m);
    const bad = new FakeCoreSession();
    const ui2 = await mount({ model, core: bad, view: 1 });
    bad.set({ status: 'error', error: '/tmp/app.core is not a core file (not an ELF file)' });
    assert.match(plain(await ui2.until(/not a core file/)), /not a core file \(not an ELF file\)/);
  });
});
