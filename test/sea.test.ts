// The hook inside a single executable application (node:sea, built here with postject): there,
// process.execPath is the app itself, so the hook must not start its helper processes with it.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { bundlesIn, cleanup, HOOK, ROOT, run, tempDir } from './helpers';

const POSTJECT = join(ROOT, 'node_modules', 'postject', 'dist', 'cli.js');
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function seaSupported(): boolean {
  try {
    require('node:sea');
    return process.platform === 'linux' && existsSync(POSTJECT);
  } catch {
    return false;
  }
}

// Each start appends its pid and arguments; the hook is loaded as an app bundled this way would load it.
const APP = `
const fs = require('node:fs');
fs.appendFileSync(process.env.STARTS, process.pid + ' ' + process.argv.slice(2).join(' ') + '\\n');
require('node:module').createRequire(process.execPath)(process.env.HOOK);
console.log('ready');
setInterval(() => {}, 1000);
`;

const dir = tempDir();
const starts = join(dir, 'starts.txt');
after(() => {
  // A copy of the app started by mistake runs detached: end every process the file names.
  try {
    for (const line of readFileSync(starts, 'utf8').split('\n')) {
      const pid = Number(line.split(' ')[0]);
      if (pid) try { process.kill(pid, 'SIGKILL'); } catch {}
    }
  } catch {}
  cleanup(dir);
});

describe('single executable application', { skip: !seaSupported() && 'needs node:sea (Node >= 20.12), Linux and postject' }, () => {
  test("a restarted app collects its killed predecessor in its own process: process.execPath is the app, and is started once per run", { timeout: 120_000 }, async () => {
    writeFileSync(join(dir, 'app.js'), APP);
    writeFileSync(join(dir, 'sea-config.json'), JSON.stringify({ main: 'app.js', output: 'prep.blob', disableExperimentalSEAWarning: true }));
    const blob = await run(process.execPath, ['--experimental-sea-config', 'sea-config.json'], { cwd: dir });
    assert.equal(blob.code, 0, blob.stderr);
    const bin = join(dir, 'app');
    copyFileSync(process.execPath, bin);
    chmodSync(bin, 0o755);
    const inject = await run(process.execPath, [POSTJECT, bin, 'NODE_SEA_BLOB', join(dir, 'prep.blob'), '--sentinel-fuse', FUSE], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(inject.code, 0, inject.stderr);

    const out = join(dir, 'bundles');
    const env = { AUTOPSY_DIR: out, STARTS: starts, HOOK };
    // The first run dies of SIGKILL once its recorder is on disk (the first loop turn).
    const first = await run(bin, [], { env, onOutput: { text: 'ready', then: (pid) => setTimeout(() => process.kill(pid, 'SIGKILL'), 1000) } });
    assert.equal(first.signal, 'SIGKILL', first.stderr);
    // The second run collects it 100 ms after its start; it is ended after 3 s.
    const second = await run(bin, [], { env, onOutput: { text: 'ready', then: (pid) => setTimeout(() => process.kill(pid, 'SIGTERM'), 3000) } });
    assert.match(second.stderr, /autopsy-ts: collected the recorder of a process that is gone: wrote \S+-killed-/);
    const lines = readFileSync(starts, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2, `the app was started ${lines.length} times:\n${lines.join('\n')}`);
    assert.equal(bundlesIn(out).filter((b) => /-killed-/.test(b)).length, 1);
  });
});
