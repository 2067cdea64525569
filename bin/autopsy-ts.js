#!/usr/bin/env node
'use strict';
const argv = process.argv;
if (argv.length === 4 && argv[2] === 'open' && !argv[3].startsWith('-')) {
  // `open <input>`, the common case: straight to the UI, without loading commander and every other
  // command first (~30 ms of CPU before the first screen). Errors go through main's one-line report.
  require('../dist/src/cli/open.js')
    .openCommand(argv[3], {})
    .catch((err) => require('../dist/src/cli/main.js').reportError(err));
} else {
  require('../dist/src/cli/main.js').main(argv);
}
