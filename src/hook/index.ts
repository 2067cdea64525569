/**
 * Entry point of `node --require autopsy-ts/hook` (and --import, and NODE_OPTIONS).
 * Loaded into other people's production processes: guarded, small, nothing at start-up that can wait.
 */
import { isMainThread } from 'node:worker_threads';
import { install } from './install';
import { hookFailure } from './log';

try {
  // Worker threads share the process: the main thread's hook covers them (their uncaught errors
  // reach the main thread as 'error' events). Installing there too would double every bundle.
  if (isMainThread) install();
} catch (err) {
  hookFailure('autopsy-ts hook start-up', err);
}
