/**
 * Entry point of `node --require autopsy-ts/hook` (and --import, and NODE_OPTIONS).
 * Loaded into other people's production processes: guarded, small, nothing at start-up that can wait.
 */
import { install } from './install';
import { hookFailure } from './log';

try {
  install();
} catch (err) {
  hookFailure('autopsy-ts hook start-up', err);
}
