/**
 * Inspects a core in a child process of `open` (core-session.ts): `inspectCore` runs gdb and llnode
 * synchronously, for seconds to minutes on a large core. A process, not a worker thread, so that
 * quitting the UI can end it and its debuggers at once (its process group is killed); a worker
 * blocked in spawnSync could not be stopped. Prints one JSON message on stdout. Uses only src/core.
 */
import { CoreInputError, inspectCore } from '../core/inspect';
import type { CoreFromWorker } from './core-session';

const path = process.argv[2];
let msg: CoreFromWorker;
try {
  msg = { type: 'ready', view: inspectCore(path, { objects: false }) };
} catch (err) {
  msg = { type: 'error', message: err instanceof CoreInputError ? err.message : `cannot inspect the core: ${(err as Error).message}` };
}
process.stdout.write(JSON.stringify(msg));
