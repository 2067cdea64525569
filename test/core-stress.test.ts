// The live core writer under load: concurrent and back-to-back dumps, workers ending mid-dump, and
// processes whose loop ends as the dump settles. Every process must live on, or exit 0, and every core
// must be an ELF core of the size reported.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cleanup, runNode, SCENARIOS, tempDir } from './helpers';

const dir = tempDir();
const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
const LOADER = require.resolve('../src/native');
const hogs: ChildProcess[] = [];
after(() => {
  for (const h of hogs) h.kill('SIGKILL');
  cleanup(dir);
});

describe('core writer under load', { skip: !linuxX64 && 'core dumps need Linux x64' }, () => {
  test('back-to-back and concurrent dumps, workers ending mid-dump, exits as a dump settles', { timeout: 90_000 }, async () => {
    // Two busy processes: the machine's cores are contended, as in a loaded CI run.
    for (let i = 0; i < 2; i++) hogs.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    // Each process its own folder: two writers renaming onto one name would race each other's checks.
    const stress = (n: number) => {
      const out = join(dir, `stress-${n}`);
      mkdirSync(out);
      return runNode(join(SCENARIOS, 'core', 'dump-stress.js'), { args: [LOADER, out, '4'], timeoutMs: 80_000 });
    };
    const exits = (n: number) => runNode(join(SCENARIOS, 'core', 'dump-then-exit.js'), { args: [LOADER, join(dir, `exit-${n}.core`)], timeoutMs: 80_000 });
    const [s1, s2, ...e] = await Promise.all([stress(1), stress(2), ...[0, 1, 2, 3, 4, 5].map(exits)]);
    for (const s of [s1, s2]) {
      assert.equal(s.signal, null, `the stressed process died of ${s.signal}: ${s.stderr}`);
      assert.equal(s.code, 0, s.stderr);
      const j = JSON.parse(s.stdout);
      if (j.skipped) return;
      assert.equal(j.rounds.length, 4);
      for (const r of j.rounds) {
        const written = [r.a, r.b].filter((x: { ok: boolean }) => x.ok);
        assert.ok(written.length >= 1, `a round wrote a core: ${JSON.stringify(r)}`);
        for (const w of written) assert.equal(w.valid, true, `an ELF core of the reported size: ${JSON.stringify(r)}`);
        // The other is refused while the first is written, or written after it.
        assert.equal(written.length + r.refused, 2, JSON.stringify(r));
      }
      assert.deepEqual(j.afterWorkers, { ok: true, valid: true }, 'a dump after workers ended mid-dump');
    }
    for (const x of e) {
      assert.equal(x.signal, null, `a process whose dump settled as its loop ended died of ${x.signal}`);
      assert.equal(x.code, 0, x.stderr);
      assert.equal(JSON.parse(x.stdout).ok, true, x.stdout);
    }
  });
});
