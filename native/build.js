#!/usr/bin/env node
// `npm install` step: builds the native addon with node-gyp (g++, make and python3 needed).
// A failed build never fails the install: autopsy-ts then runs without the addon, and every bundle
// says so (manifest.hook.addon = "unavailable"). AUTOPSY_NATIVE_BUILD=0 skips the build.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');

const dir = __dirname;
if (process.env.AUTOPSY_NATIVE_BUILD === '0') process.exit(0);
if (process.platform !== 'linux') {
  console.error(`autopsy-ts: native addon not built: ${process.platform} is not supported yet (core dumps need Linux x64)`);
  process.exit(0);
}
const gyp = process.env.npm_config_node_gyp || join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const args = [gyp, 'rebuild'];
// Headers from the Node installation itself when it ships them (Debian, NodeSource, tarballs): no download.
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  const why = r.error ? r.error.message : (r.stderr || '').split('\n').filter((l) => /error/i.test(l)).slice(0, 3).join(' | ');
  console.error(`autopsy-ts: native addon not built (${why || `node-gyp exit ${r.status}`}); core dumps will be unavailable`);
}
