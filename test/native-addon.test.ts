// The addon's loader, its fallback, and the pure parts around cores (ELF notes, settings, disk check).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAutopsyNote, parseNotes, parseNtFile, parsePrpsinfo, readHeaders } from '../src/native/elf';
import { diskVerdict, readCoreConfig } from '../src/hook/core';
import { pickCEntryFpOffset } from '../src/native';
import { runNode } from './helpers';

const probeScript = `
const n = require(${JSON.stringify(require.resolve('../src/native'))});
const s = n.loadNative();
console.log(JSON.stringify({ loaded: s.loaded, reason: s.reason, core: s.loaded && s.addon.coreSupported, offset: s.loaded ? n.findCEntryFpOffset(s.addon) : null }));
`;

describe('native addon', () => {
  test('loads through node-gyp-build in this Node, and finds the isolate c_entry_fp offset', async () => {
    const r = await runNode('-e', { args: [probeScript] });
    const out = JSON.parse(r.stdout);
    assert.equal(out.loaded, true, out.reason);
    assert.equal(out.core, process.platform === 'linux' && process.arch === 'x64');
    assert.equal(typeof out.offset, 'number');
  });

  test('AUTOPSY_NATIVE=0 gives the fallback, with the reason', async () => {
    const r = await runNode('-e', { args: [probeScript], env: { AUTOPSY_NATIVE: '0' } });
    assert.deepEqual(JSON.parse(r.stdout), { loaded: false, reason: 'turned off by AUTOPSY_NATIVE=0', core: false, offset: null });
  });

  test('pickCEntryFpOffset keeps the field whose distance to the frame holds at two depths', () => {
    assert.equal(pickCEntryFpOffset([[336, 568], [424, 608], [384, 1048]], [[336, 4000], [424, 608], [384, 2000]]), 424);
    assert.equal(pickCEntryFpOffset([[8, 100]], [[8, 90]]), undefined);
    assert.equal(pickCEntryFpOffset([[16, 300], [8, 100]], [[16, 300], [8, 100]]), 8);
  });
});

/** A tiny ELF64 core in memory: header, one PT_NOTE with the given notes. */
function tinyCore(notes: { name: string; type: number; desc: Buffer }[]): Buffer {
  const body = Buffer.concat(
    notes.map((n) => {
      const name = Buffer.from(n.name + '\0');
      const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
      const h = Buffer.alloc(12);
      h.writeUInt32LE(name.length, 0);
      h.writeUInt32LE(n.desc.length, 4);
      h.writeUInt32LE(n.type, 8);
      return Buffer.concat([h, pad(name), pad(n.desc)]);
    }),
  );
  const eh = Buffer.alloc(64);
  eh.writeUInt32BE(0x7f454c46, 0);
  eh[4] = 2;
  eh[5] = 1;
  eh.writeUInt16LE(4, 16);
  eh.writeUInt16LE(62, 18);
  eh.writeBigUInt64LE(64n, 32);
  eh.writeUInt16LE(56, 54);
  eh.writeUInt16LE(1, 56);
  const ph = Buffer.alloc(56);
  ph.writeUInt32LE(4, 0);
  ph.writeBigUInt64LE(120n, 8);
  ph.writeBigUInt64LE(BigInt(body.length), 32);
  return Buffer.concat([eh, ph, body]);
}

describe('native addon: a process that exits while its core is written', () => {
  // Seen once (not reproduced on demand): settling the writeCore promise during teardown went through
  // node-addon-api's wrappers, and a failed call became "FATAL ERROR: Error::ThrowAsJavaScriptException
  // napi_throw", changing the exit. Settle now uses raw N-API calls and ignores their failures.
  test('exits with its own code and nothing on stderr', { skip: !(process.platform === 'linux' && process.arch === 'x64') && 'Linux x64 only' }, async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'autopsy-exit-'));
    try {
      const script = `
        const n = require(${JSON.stringify(require.resolve('../src/native'))}).loadNative();
        if (!n.loaded || !n.addon.writeCore) { console.log('no addon'); process.exit(3); }
        n.addon.writeCore({ path: ${JSON.stringify(join(dir, 'x.core'))} });
        setTimeout(() => process.exit(3), Number(process.argv[1]));
      `;
      // Exits before, during and after the fork and the write.
      for (const ms of [0, 5, 30, 120, 400]) {
        const r = await runNode('-e', { args: [script, String(ms)], timeoutMs: 60_000 });
        assert.equal(r.code, 3, r.stderr);
        assert.equal(r.stderr, '');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ELF notes', () => {
  test('headers, notes, NT_FILE, PRPSINFO and the AUTOPSY note parse from a built core', () => {
    const file = Buffer.alloc(16 + 24 + 10);
    file.writeBigUInt64LE(1n, 0);
    file.writeBigUInt64LE(4096n, 8);
    file.writeBigUInt64LE(0x400000n, 16);
    file.writeBigUInt64LE(0x401000n, 24);
    file.writeBigUInt64LE(2n, 32);
    file.write('/bin/node\0', 40);
    const ps = Buffer.alloc(136);
    ps.writeInt32LE(4242, 24);
    ps.write('node', 40);
    ps.write('node server.js', 56);
    const core = tinyCore([
      { name: 'CORE', type: 0x46494c45, desc: file },
      { name: 'CORE', type: 3, desc: ps },
      { name: 'AUTOPSY', type: 0x41555401, desc: Buffer.from('node=v20.1.0\nisolate=0x1234\n') },
    ]);
    const read = (o: number, l: number) => core.subarray(o, o + l);
    const h = readHeaders(read);
    assert.equal(h.type, 4);
    assert.equal(h.phdrs.length, 1);
    const notes = parseNotes(read(h.phdrs[0].offset, h.phdrs[0].filesz));
    assert.deepEqual(notes.map((n) => [n.name, n.type]), [['CORE', 0x46494c45], ['CORE', 3], ['AUTOPSY', 0x41555401]]);
    assert.deepEqual(parseNtFile(notes[0].desc), [{ start: 0x400000n, end: 0x401000n, pageOffset: 2n, path: '/bin/node' }]);
    assert.deepEqual(parsePrpsinfo(notes[1].desc), { pid: 4242, fname: 'node', args: 'node server.js' });
    assert.deepEqual(parseAutopsyNote(notes[2].desc), { node: 'v20.1.0', isolate: '0x1234' });
  });

  test('a file that is not ELF is refused with a clear error', () => {
    assert.throws(() => readHeaders(() => Buffer.from('hello')), /not an ELF file/);
  });
});

describe('core settings', () => {
  test('AUTOPSY_CORE_* values, and bad ones keep the default with one line each', () => {
    const ok = readCoreConfig({ AUTOPSY_CORE_TIMEOUT: '30', AUTOPSY_CORE_MIN_FREE: '2G', AUTOPSY_CORE_MIN_AVAILABLE: '100M', AUTOPSY_CORE_KEEP: '5' });
    assert.deepEqual(ok, { config: { timeoutMs: 30_000, minFree: 2 * 1024 ** 3, minAvailable: 100 * 1024 ** 2, keep: 5 }, problems: [] });
    const bad = readCoreConfig({ AUTOPSY_CORE_TIMEOUT: 'soon', AUTOPSY_CORE_KEEP: '0' });
    assert.equal(bad.config.timeoutMs, 120_000);
    assert.equal(bad.config.keep, 3);
    assert.equal(bad.problems.length, 2);
  });

  test('diskVerdict refuses when the core would eat into the space that must stay free', () => {
    const G = 1024 ** 3;
    assert.equal(diskVerdict(1 * G, 10 * G, 1 * G), undefined);
    assert.match(diskVerdict(1 * G, 1.5 * G, 1 * G)!, /^not enough disk space: the core needs about 1024 MB, 1536 MB free/);
  });
});
