/**
 * The API: `require('autopsy-ts')`. Safe to call with or without the preloaded hook; state is shared
 * with the hook through a global registry, so both see the same breadcrumbs and configuration.
 */
import { captureSync } from './hook/capture';
import type { Config } from './hook/config';
import { install } from './hook/install';
import { hookFailure } from './hook/log';
import { previewValue } from './hook/preview';
import { record, state } from './hook/state';

export type { Manifest, ErrorRecord, Frame, TimelineEvent } from './bundle/types';

export interface Options {
  dir?: string;
  maxBundles?: number;
  maxBytes?: number;
  ratePerMinute?: number;
  sourceMaps?: boolean;
  redact?: string[];
}

/**
 * Installs the hook if it is not installed yet (as `--require autopsy-ts/hook` would), then applies
 * the options over the environment's configuration.
 */
export function configure(options: Options = {}): void {
  try {
    install();
    const cfg: Config = state().config;
    if (options.dir !== undefined) cfg.dir = require('node:path').resolve(options.dir);
    if (options.maxBundles !== undefined) cfg.maxBundles = Math.max(1, Math.floor(options.maxBundles));
    if (options.maxBytes !== undefined) cfg.maxBytes = Math.max(1024 * 1024, Math.floor(options.maxBytes));
    if (options.ratePerMinute !== undefined) cfg.ratePerMinute = Math.max(1, Math.floor(options.ratePerMinute));
    if (options.sourceMaps !== undefined) cfg.sourceMaps = !!options.sourceMaps;
    if (options.redact !== undefined) cfg.redact = options.redact.map(String);
  } catch (err) {
    hookFailure('configure()', err);
  }
}

/** Records a breadcrumb into the timeline of the next bundle. Cheap; never throws. */
export function breadcrumb(message: string, data?: unknown): void {
  try {
    record({ time: Date.now(), kind: 'breadcrumb', message: String(message).slice(0, 1000), data: data === undefined ? undefined : previewValue(data) });
  } catch (err) {
    hookFailure('breadcrumb()', err);
  }
}

/**
 * Writes a bundle now, synchronously, and returns its path (undefined when it was not written:
 * rate limit, or a failure already reported on stderr).
 */
export function capture(reason = 'api', error?: unknown): string | undefined {
  try {
    const r = String(reason).toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 40) || 'api';
    return captureSync({ reason: r, error, hasError: error !== undefined, stack: true, trigger: { api: true } }).path;
  } catch (err) {
    hookFailure('capture()', err);
    return undefined;
  }
}
