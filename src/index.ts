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

export interface CaptureOptions {
  reason?: string;
  error?: unknown;
  /**
   * Also write a core dump of this process beside the bundle (Linux x64, native addon; docs/native.md),
   * referenced from the bundle's core.json. capture() then returns a promise.
   */
  core?: boolean;
}

export interface CoreCaptureResult {
  /** The bundle, or undefined when it was not written (rate limit, or a failure reported on stderr). */
  path?: string;
  /** The core beside the bundle, or undefined with the reason in coreSkipped. */
  core?: string;
  coreSkipped?: string;
}

/**
 * Writes a bundle now, synchronously, and returns its path (undefined when it was not written:
 * rate limit, or a failure already reported on stderr). With `{core: true}` a core dump is written
 * first (the process carries on while it is written), and a promise of both paths is returned; it
 * never rejects.
 */
export function capture(reason?: string, error?: unknown): string | undefined;
export function capture(options: CaptureOptions & { core: true }): Promise<CoreCaptureResult>;
export function capture(options: CaptureOptions): string | undefined;
export function capture(reasonOrOptions: string | CaptureOptions = 'api', error?: unknown): string | undefined | Promise<CoreCaptureResult> {
  try {
    const options: CaptureOptions = isOptions(reasonOrOptions) ? reasonOrOptions : { reason: reasonOrOptions as string, error };
    const r = String(options.reason ?? 'api').toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, 40) || 'api';
    const hasError = options.error !== undefined;
    if (options.core === true) return captureWithCore(r, options.error, hasError);
    return captureSync({ reason: r, error: options.error, hasError, stack: true, trigger: { api: true } }).path;
  } catch (err) {
    hookFailure('capture()', err);
    return undefined;
  }
}

function isOptions(v: unknown): v is CaptureOptions {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The stack is the caller's, taken now; the bundle follows once the core is written. */
async function captureWithCore(reason: string, error: unknown, hasError: boolean): Promise<CoreCaptureResult> {
  try {
    const { currentStack, bundleDirNow } = require('./hook/capture') as typeof import('./hook/capture');
    const stack = currentStack();
    const { writeCoreInto } = require('./hook/core') as typeof import('./hook/core');
    const outcome = await writeCoreInto(bundleDirNow(), reason);
    const record = 'record' in outcome ? outcome.record : undefined;
    const coreRef = record ? { path: record.path, size: record.size, sha256: record.sha256, nodeBuildId: record.nodeBuildId } : { skipped: (outcome as { skipped: string }).skipped };
    const res = captureSync({ reason, error, hasError, stack, trigger: { api: true, core: coreRef }, entries: record ? [{ name: 'core.json', value: record }] : undefined });
    return { path: res.path, core: record?.path, coreSkipped: record ? undefined : (outcome as { skipped: string }).skipped };
  } catch (err) {
    hookFailure('capture({core: true})', err);
    return {};
  }
}
