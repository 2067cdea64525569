/** The UI's pure modules: windowing, sparklines, keys, filtering, timeline data, findings, report sections, rows. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coreHeadline, coreOverviewRows, coreStackRows, loadingLine, noBackendLine } from '../src/tui/core-rows';
import { filterIndices, nextSort, sortClasses } from '../src/tui/filter';
import { findings } from '../src/tui/findings';
import { bytes, clock, fit, ms, rule, signed } from '../src/tui/format';
import { editQuery, isMoveOnly, parseKeys, splitKeys } from '../src/tui/keys';
import { classLine, diffLine, nodeLine, retainerRows } from '../src/tui/objects-rows';
import { reportRows, reportSections } from '../src/tui/report-sections';
import { bucketMax, columnOf, markerRow, sparkline } from '../src/tui/sparkline';
import { excerptFor, frameText, localsFor, stackRows } from '../src/tui/stack-rows';
import { themeFor } from '../src/tui/theme';
import { cleanEvents, eventLine, eventText, marksOf, seriesOf, slopePerMinute, spanOf } from '../src/tui/timeline-data';
import { clampCursor, moveCursor, START, visibleRange, windowFor } from '../src/tui/windowing';
import { FakeHeapSession, syntheticBundle, syntheticCoreView, syntheticEvents, syntheticModel, T0 } from './tui-fixtures';

describe('windowing', () => {
  it('windowFor keeps the selection visible, moving as little as possible', () => {
    assert.equal(windowFor(0, 0, 10, 100), 0);
    assert.equal(windowFor(9, 0, 10, 100), 0);
    assert.equal(windowFor(10, 0, 10, 100), 1);
    assert.equal(windowFor(5, 20, 10, 100), 5);
    assert.equal(windowFor(99, 0, 10, 100), 90);
    assert.equal(windowFor(3, 50, 10, 5), 0, 'a list shorter than the window starts at 0');
    assert.equal(windowFor(0, 0, 10, 0), 0);
  });
  it('moveCursor: up/down, pages, home/end, clamped', () => {
    let c = moveCursor(START, 'down', 100_000, 20);
    assert.deepEqual(c, { selected: 1, top: 0 });
    c = moveCursor(c, 'page-down', 100_000, 20);
    assert.deepEqual(c, { selected: 20, top: 1 });
    c = moveCursor(c, 'end', 100_000, 20);
    assert.deepEqual(c, { selected: 99_999, top: 99_980 });
    c = moveCursor(c, 'down', 100_000, 20);
    assert.equal(c.selected, 99_999);
    c = moveCursor(c, 'page-up', 100_000, 20);
    assert.deepEqual(c, { selected: 99_980, top: 99_980 });
    assert.deepEqual(moveCursor(c, 'home', 100_000, 20), START);
    assert.deepEqual(moveCursor(START, 'up', 0, 20), START);
  });
  it('clampCursor and visibleRange after a filter or a resize', () => {
    assert.deepEqual(clampCursor({ selected: 500, top: 490 }, 10, 5), { selected: 9, top: 5 });
    assert.deepEqual(visibleRange({ selected: 50, top: 45 }, 100_000, 10), [45, 55]);
    assert.deepEqual(visibleRange({ selected: 50, top: 45 }, 100_000, 3), [48, 51]);
  });
});

describe('sparkline', () => {
  const span = { from: 0, to: 100 };
  it('columnOf maps a time to a column, clamped', () => {
    assert.equal(columnOf(0, span, 10), 0);
    assert.equal(columnOf(55, span, 10), 5);
    assert.equal(columnOf(100, span, 10), 9);
    assert.equal(columnOf(-5, span, 10), 0);
    assert.equal(columnOf(5, { from: 7, to: 7 }, 10), 0);
  });
  it('bucketMax keeps spikes and leaves gaps empty', () => {
    const b = bucketMax([{ time: 1, value: 1 }, { time: 2, value: 9 }, { time: 3, value: 2 }, { time: 95, value: 4 }], span, 4);
    assert.equal(b[0], 9);
    assert.ok(Number.isNaN(b[1]) && Number.isNaN(b[2]));
    assert.equal(b[3], 4);
  });
  it('sparkline scales between min and max, blank where no sample fell', () => {
    assert.equal(sparkline([{ time: 0, value: 0 }, { time: 99, value: 10 }], span, 4), '▁  █');
    assert.equal(sparkline([], span, 3), '   ');
    assert.equal(sparkline([{ time: 10, value: 3 }, { time: 90, value: 3 }], span, 2), '▁▁', 'a flat series is the lowest bar');
    assert.equal([...sparkline([{ time: 10, value: 0.5 }], span, 1, { min: 0, max: 1 })][0], '▅');
  });
  it('markerRow: higher rank wins a column', () => {
    assert.equal(markerRow([{ time: 0, char: 'G', rank: 1 }, { time: 1, char: 'T', rank: 6 }, { time: 60, char: 'B', rank: 2 }], span, 5), 'T  B ');
  });
});

describe('keys', () => {
  it('several keys in one string each become an action', () => {
    assert.deepEqual(parseKeys('jjjj', {}).map((a) => a.type), ['down', 'down', 'down', 'down']);
    assert.deepEqual(parseKeys('3gG', {}), [{ type: 'view', index: 2 }, { type: 'home' }, { type: 'end' }]);
    assert.deepEqual(parseKeys('/?qsdt', {}).map((a) => a.type), ['search', 'help', 'quit', 'sort', 'diff', 'tree']);
    assert.deepEqual(parseKeys('x', {}), [{ type: 'char', char: 'x' }]);
  });
  it('special keys', () => {
    assert.deepEqual(parseKeys('', { tab: true }), [{ type: 'next-view' }]);
    assert.deepEqual(parseKeys('', { tab: true, shift: true }), [{ type: 'prev-view' }]);
    assert.deepEqual(parseKeys('', { pageDown: true }), [{ type: 'page-down' }]);
    assert.deepEqual(parseKeys('', { escape: true }), [{ type: 'back' }]);
    assert.deepEqual(parseKeys('', { return: true }), [{ type: 'enter' }]);
    assert.deepEqual(parseKeys('c', { ctrl: true }), [{ type: 'quit' }]);
    assert.deepEqual(parseKeys('x', { meta: true }), []);
  });
  it('splitKeys and isMoveOnly: one item per character; moves batch, other keys do not', () => {
    assert.deepEqual(splitKeys('jk\r', {}), [{ input: 'j', key: {} }, { input: 'k', key: {} }, { input: '', key: { return: true } }]);
    assert.deepEqual(splitKeys('', { upArrow: true }), [{ input: '', key: { upArrow: true } }]);
    // Esc typed just before a key arrives with it in one read, as Alt+key: Esc, then the key.
    assert.deepEqual(splitKeys('1', { meta: true }), [{ input: '', key: { escape: true } }, { input: '1', key: {} }]);
    assert.deepEqual(splitKeys('x', { meta: true, ctrl: true }), [{ input: 'x', key: { meta: true, ctrl: true } }]);
    assert.deepEqual(splitKeys('', { meta: true, upArrow: true }), [{ input: '', key: { meta: true, upArrow: true } }]);
    assert.equal(isMoveOnly({ input: 'j', key: {} }, false), true);
    assert.equal(isMoveOnly({ input: '', key: { pageDown: true } }, false), true);
    assert.equal(isMoveOnly({ input: '', key: { return: true } }, false), false);
    assert.equal(isMoveOnly({ input: '3', key: {} }, false), false);
    assert.equal(isMoveOnly({ input: 'q', key: {} }, true), true, 'search text batches');
    assert.equal(isMoveOnly({ input: '', key: { return: true } }, true), false);
  });
  it('editQuery appends printable text only, backspace deletes, Enter/Esc end', () => {
    assert.deepEqual(editQuery('or', 'd', {}), { query: 'ord' });
    assert.deepEqual(editQuery('ord', '', { backspace: true }), { query: 'or' });
    assert.deepEqual(editQuery('ord', '', { return: true }), { query: 'ord', done: 'accept' });
    assert.deepEqual(editQuery('ord', '', { escape: true }), { query: '', done: 'cancel' });
    assert.deepEqual(editQuery('', 'a\x1b[2Jb', {}), { query: 'a[2Jb' });
  });
});

describe('filter and sort', () => {
  it('filterIndices is case-insensitive; empty query keeps all', () => {
    const rows = ['Order', 'Array', 'ORDERS'];
    assert.deepEqual([...filterIndices(3, (i) => rows[i], 'ord')], [0, 2]);
    assert.deepEqual([...filterIndices(3, (i) => rows[i], ' ')], [0, 1, 2]);
  });
  it('sortClasses by each key; nextSort cycles', () => {
    const rows = [{ name: 'b', count: 1, selfSize: 30, retainedSize: 10 }, { name: 'a', count: 5, selfSize: 20, retainedSize: 40 }, { name: 'c', count: 3, selfSize: 10, retainedSize: 20 }];
    assert.deepEqual(sortClasses(rows, 'retained').map((r) => r.name), ['a', 'c', 'b']);
    assert.deepEqual(sortClasses(rows, 'self').map((r) => r.name), ['b', 'a', 'c']);
    assert.deepEqual(sortClasses(rows, 'count').map((r) => r.name), ['a', 'c', 'b']);
    assert.deepEqual(sortClasses(rows, 'name').map((r) => r.name), ['a', 'b', 'c']);
    assert.equal(nextSort('name'), 'retained');
  });
});

describe('format', () => {
  it('sizes, durations, clock, fit, rule', () => {
    assert.equal(bytes(1536), '1.5 KB');
    assert.equal(bytes(-3 * 1024 * 1024), '-3.0 MB');
    assert.equal(bytes(undefined), '?');
    assert.equal(ms(4100), '4.1 s');
    assert.equal(ms(12.4), '12 ms');
    assert.equal(signed(12000), '+12,000');
    assert.equal(clock(T0), '14:00:00.000');
    assert.equal(clock('nope'), '??:??:??.???');
    assert.equal(fit('abcdef', 4), 'abc…');
    assert.equal(fit('ab', 4, true), '  ab');
    assert.equal([...rule('x', 10)].length, 10);
  });
  it('themeFor honours NO_COLOR', () => {
    assert.equal(themeFor({ NO_COLOR: '1' }).color, false);
    assert.equal(themeFor({ NO_COLOR: '1' }).accent, undefined);
    assert.equal(themeFor({}).color, true);
  });
});

describe('timeline data', () => {
  it('cleanEvents drops malformed events and sorts by time', () => {
    const ev = cleanEvents([{ time: 3, kind: 'b' }, null, { kind: 'x' }, { time: 1 }, 'str', { time: 2, kind: 'a' }]);
    assert.deepEqual(ev.map((e) => [e.time, e.kind]), [[1, 'unknown'], [2, 'a'], [3, 'b']]);
    assert.deepEqual(cleanEvents({ not: 'an array' }), []);
  });
  it('seriesOf, spanOf, marksOf from samples and events', () => {
    const ev = cleanEvents(syntheticEvents(10));
    const s = seriesOf(ev);
    assert.equal(s.rss.length, 10);
    assert.equal(s.delayP99.length, 10);
    assert.deepEqual(spanOf(ev), { from: T0, to: T0 + 31000 });
    assert.deepEqual(marksOf(ev).map((m) => m.char), ['B', 'G', 'T', 'W']);
  });
  it('eventText for each kind, and unknown kinds generically', () => {
    assert.equal(eventText({ time: 0, kind: 'breadcrumb', message: 'hi', data: { a: 1 } }), 'hi {"a":1}');
    assert.equal(eventText({ time: 0, kind: 'gc', gcKind: 'minor', durationMs: 2 }), 'minor 2 ms');
    assert.equal(eventText({ time: 0, kind: 'net', event: 'error', remoteAddress: '10.0.0.1', remotePort: 5432, error: 'ECONNREFUSED' }), 'error 10.0.0.1:5432 ECONNREFUSED');
    assert.equal(eventText({ time: 0, kind: 'http', method: 'GET', host: 'h', path: '/p', status: 200, durationMs: 5 }), 'GET h/p 200 5 ms');
    assert.equal(eventText({ time: 0, kind: 'exit', what: 'child', pid: 7, code: 1 }), 'child pid 7 code 1');
    assert.equal(eventText({ time: 0, kind: 'hang-end', durationMs: 2500 }), 'blocked 2.5 s');
    assert.equal(eventText({ time: 0, kind: 'signal', signal: 'SIGTERM' }), 'SIGTERM');
    assert.equal(eventText({ time: 0, kind: 'warning', name: 'W', message: 'm' }), 'W: m');
    assert.equal(eventText({ time: 0, kind: 'sample' }), '');
    assert.equal(eventText({ time: 0, kind: 'new-kind', x: 1 }), '{"x":1}');
    assert.match(eventLine({ time: T0, kind: 'trigger', reason: 'hang' }), /^14:00:00\.000 trigger +hang$/);
  });
  it('slopePerMinute by least squares', () => {
    assert.equal(slopePerMinute([{ time: 0, value: 0 }, { time: 60_000, value: 10 }, { time: 120_000, value: 20 }]), 10);
    assert.equal(slopePerMinute([{ time: 0, value: 1 }]), undefined);
  });
});

describe('findings', () => {
  it('error headline, memory growth, delay, ELU, warnings, http failures', () => {
    const f = findings(syntheticModel());
    assert.match(f[0], /^Error: cannot render invoice A-1001 at renderInvoice/);
    assert.ok(f.some((l) => /^memory growing: RSS 690\.0 MB, rising 600\.0 MB\/min$/.test(l)), f.join('\n'));
    assert.ok(f.includes('event loop delay p99 up to 900 ms'));
    assert.ok(f.includes('MaxListenersExceededWarning emitted'));
    assert.ok(f.includes('1 HTTP request failed (db.internal)'));
  });
  it('killed by a signal, with the RSS trend', () => {
    const m = syntheticModel();
    m.summary = { ...m.summary!, reason: 'killed', error: undefined, trigger: { signal: 'SIGKILL' }, time: new Date(T0 + 131_000).toISOString() };
    assert.ok(findings(m).includes('killed by SIGKILL at 14:02:11; RSS 690.0 MB, rising 600.0 MB/min'), findings(m).join('\n'));
  });
  it('earlier hangs, GC share, socket errors; heap facts once the worker is done', () => {
    const m = syntheticModel({ events: [
      { time: T0, kind: 'hang', durationMs: 2100 }, { time: T0 + 10, kind: 'hang', durationMs: 900 },
      { time: T0 + 20, kind: 'gc', durationMs: 50 }, { time: T0 + 100, kind: 'net', event: 'error' },
    ] });
    const f = findings(m, { nodes: 10, totalSize: 100, diff: { sizeDelta: 48 * 1024 * 1024, suspects: [{ name: 'Order', countDelta: 12000, sizeDelta: 1, heldBy: 'pendingOrders in Object' }] } });
    assert.ok(f.includes('2 earlier event-loop blocks, longest 2.1 s'));
    assert.ok(f.includes('GC took 50% of the time (1 collections, 50 ms)'));
    assert.ok(f.includes('1 socket error'));
    assert.ok(f.includes('heap +48.0 MB between snapshots: Order +12,000, held by pendingOrders in Object'));
    const g = findings({ ...m, summary: undefined, events: [] }, { nodes: 1, totalSize: 2048, top: { name: 'Order', retainedSize: 1024, count: 3 } });
    assert.deepEqual(g, ['largest in the heap: Order retains 1.0 KB (3 objects, heap 2.0 KB)']);
  });
});

describe('report sections', () => {
  it('process, heap, resources, handles, environment (redacted), shared objects', () => {
    const b = syntheticBundle();
    const secs = reportSections(b.json.get('report.json') as Record<string, unknown>);
    assert.deepEqual(secs.map((s) => s.title), ['Process', 'Resource usage', 'libuv handles (2)', 'Environment (redacted)', 'Shared objects (2)']);
    const env = secs.find((s) => s.title.startsWith('Environment'))!.lines;
    assert.ok(env.includes('API_TOKEN=[redacted]'));
    assert.ok(env.includes('PATH=/usr/bin'));
    assert.ok(secs[2].lines.includes('tcp 1, timer 1'));
    assert.deepEqual(reportSections(undefined), []);
    const rows = reportRows(secs);
    assert.equal(rows[0].header, true);
    assert.equal(rows[1].text.startsWith('  '), true);
  });
});

describe('stack rows', () => {
  it('the error chain, then the thread stack; excerpt and locals for a frame', () => {
    const m = syntheticModel();
    const rows = stackRows(m);
    assert.equal(rows[0].kind, 'header');
    assert.ok(rows.some((r) => r.text === 'Caused by DatabaseError: connection reset'));
    const f = rows.find((r) => r.frame?.function === 'fetchCustomer')!.frame!;
    assert.equal(frameText(f, '/srv/app'), 'fetchCustomer (src/db.ts:20:9)  [dist/db.js:18:11]');
    assert.equal(excerptFor(f, m.summary!.excerpts)?.line, 20);
    assert.equal(excerptFor({ ...f, file: 'other' }, m.summary!.excerpts), undefined);
    const hang = { locals: { tookMs: 1, frames: [{ function: 'fetchCustomer', url: 'file:///srv/app/src/db.ts', line: 20, scopes: [{ type: 'local', vars: { id: '"c-42"' } }] }] } };
    assert.deepEqual(localsFor(f, hang as never), [{ type: 'local', vars: { id: '"c-42"' } }]);
  });
  it('a diagnostic report alone: its JavaScript stack', () => {
    const rows = stackRows({ title: 'r', kind: 'report', events: [], heaps: [], report: { javascriptStack: { message: 'Error: x', stack: ['at a (/x.js:1:2)'] } } });
    assert.equal(rows[0].text, 'Report: Error: x');
    assert.equal(rows[1].frame?.function, 'a');
  });
});

describe('objects rows', () => {
  it('class, diff and node lines fit the width; retainer paths flatten with nodes', async () => {
    assert.ok([...classLine({ name: 'Order', count: 12000, selfSize: 1024, retainedSize: 2048 }, 80)].length <= 80);
    assert.ok([...diffLine({ name: 'Order', countBefore: 1, countAfter: 3, countDelta: 2, sizeDelta: 10, newCount: 2 }, 80)].length <= 80);
    const heap = new FakeHeapSession();
    const t = heap.table(3, 'Order');
    assert.match(nodeLine(t, 0, 80), /^Order @1000 +80 B +3\.9 KB$/);
    const rows = retainerRows(await heap.retainers(5));
    assert.deepEqual(rows.map((r) => r.node), [5, 7, 8]);
    assert.equal(rows[1].text, '  ← [12] in Array @77');
  });
});

describe('core rows', () => {
  it('loadingLine counts seconds; noBackendLine only when no backend gave a frame', () => {
    assert.equal(loadingLine({ status: 'loading', seconds: 4 }), 'reading core... 4 s (gdb: native frames; V8 walker, llnode: JS frames)');
    assert.equal(noBackendLine(syntheticCoreView()), undefined);
    assert.equal(noBackendLine(syntheticCoreView({ backends: false })), 'no stack backend: install gdb for native frames or llnode for JS frames');
    assert.ok(noBackendLine(syntheticCoreView({ backends: false }))!.length <= 78, 'fits 80 columns with "- "');
  });

  it('coreHeadline: the first named JS frame, else the top native frame', () => {
    assert.equal(coreHeadline(syntheticCoreView()), 'main thread in JS: renderInvoicePdf (/srv/app/server.js:7)');
    const v = syntheticCoreView();
    v.jsStack!.frames = [];
    assert.equal(coreHeadline(v), 'main thread in native code: uv__io_poll');
    assert.equal(coreHeadline(syntheticCoreView({ backends: false })), undefined);
  });

  it('coreStackRows: loading, error, then gdb frames and walker frames with their detail', () => {
    assert.deepEqual(coreStackRows({ status: 'idle' }).map((r) => r.kind), ['note']);
    assert.equal(coreStackRows({ status: 'error', error: 'x is not a core file' })[0].text, 'x is not a core file');
    const rows = coreStackRows({ status: 'ready', view: syntheticCoreView() });
    assert.deepEqual(rows.map((r) => r.kind), ['header', 'frame', 'frame', 'header', 'frame', 'frame']);
    assert.equal(rows[1].dim, true);
    assert.deepEqual(rows[1].detail!.slice(0, 2), ['native frame #0, from gdb', 'function  uv__io_poll']);
    assert.equal(rows[4].text, '  #0   renderInvoicePdf  /srv/app/server.js:7');
    assert.ok(!rows[4].dim);
  });

  it('coreOverviewRows: the size before the inspection, the process facts after it', () => {
    const t = themeFor({});
    assert.deepEqual(coreOverviewRows('a.core', 2 * 1024 * 1024, { status: 'loading', seconds: 1 }, t).map((r) => r.text).slice(-1), ['core      2.0 MB apparent']);
    const texts = coreOverviewRows('a.core', 0, { status: 'ready', view: syntheticCoreView() }, t).map((r) => r.text);
    assert.equal(texts[0], 'core dump a.core of pid 4242 (node v20.20.2)');
    assert.ok(texts.includes('isolate   0x4067cce0, c_entry_fp at isolate+384'));
    assert.ok(texts.includes('runtime   node v20.20.2, V8 11.3.244.8'));
  });
});
