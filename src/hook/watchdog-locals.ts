import type { LocalsRecord } from './hang';
import { hookFailure } from './log';
import { KICK_MS, callMain, currentSession, kickEvery, post } from './watchdog-session';

/** Budget for Debugger.enable + pause + scopes: a lazy Debugger.enable costs ~1 ms per 15 scripts. */
const LOCALS_BUDGET_MS = 2000;

interface RemoteObject {
  type: string;
  subtype?: string;
  value?: unknown;
  description?: string;
  unserializableValue?: string;
  preview?: { properties?: { name: string; value?: string; type: string }[]; overflow?: boolean };
}

/** A bounded one-line preview of a debugger RemoteObject. */
export function renderRemote(v: RemoteObject | undefined): string {
  if (!v) return 'undefined';
  let s: string;
  if (v.type === 'undefined') s = 'undefined';
  else if (v.unserializableValue) s = v.unserializableValue;
  else if (v.type === 'string') s = JSON.stringify(v.value);
  else if (v.type !== 'object' && v.type !== 'function') s = String(v.value);
  else if (v.subtype === 'null') s = 'null';
  else if (v.type === 'function') s = `[Function: ${(v.description ?? '').split('\n')[0].slice(0, 80)}]`;
  else {
    s = v.description ?? v.type;
    const props = v.preview?.properties;
    if (props && v.type === 'object') {
      const inner = props.slice(0, 8).map((p) => `${p.name}: ${p.type === 'string' ? JSON.stringify(p.value) : p.value}`);
      s += ` {${inner.join(', ')}${v.preview?.overflow || props.length > 8 ? ', …' : ''}}`;
    }
  }
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

interface CallFrame {
  functionName: string;
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber?: number };
  scopeChain: { type: string; object: { objectId?: string } }[];
}

/**
 * Debugger.enable + Debugger.pause: the call frames and the locals of the top three frames, then
 * resume and disable, so no debugger stays enabled. Bounded by LOCALS_BUDGET_MS in all.
 */
export async function captureLocals(episode: number): Promise<void> {
  const t0 = performance.now();
  const left = () => Math.max(1, LOCALS_BUDGET_MS - (performance.now() - t0));
  const record: LocalsRecord = { frames: [], tookMs: 0 };
  let paused = false;
  // Debugger.enable announces every script once: the only way to name the paused frames' files.
  const urls = new Map<string, string>();
  const onScript = (m: { params: { scriptId: string; url: string } }) => urls.set(m.params.scriptId, m.params.url);
  currentSession()!.on('Debugger.scriptParsed', onScript);
  try {
    const pausedEvent = new Promise<CallFrame[]>((resolve) => currentSession()!.once('Debugger.paused', (m: { params: { callFrames: CallFrame[] } }) => resolve(m.params.callFrames)));
    await post('Debugger.enable', {}, left());
    await post('Debugger.pause', {}, left());
    const kick = kickEvery(KICK_MS);
    const frames = await Promise.race([pausedEvent, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the main thread did not pause in time')), left()))]).finally(() => clearInterval(kick));
    paused = true;
    // The top frames that are the app's: a pause often lands inside a Node builtin the app's loop
    // calls (performance.now, a validator), whose locals tell nothing.
    const urlOf = (f: CallFrame) => f.url || urls.get(f.location.scriptId) || '';
    const appFrames = frames.filter((f) => !urlOf(f).startsWith('node:') && urlOf(f) !== '');
    for (const f of (appFrames.length ? appFrames : frames).slice(0, 3)) {
      const scopes: LocalsRecord['frames'][number]['scopes'] = [];
      for (const sc of f.scopeChain.filter((s) => s.type === 'local' || s.type === 'block' || s.type === 'closure').slice(0, 3)) {
        if (!sc.object.objectId) continue;
        const props = await post<{ result: { name: string; value?: RemoteObject }[] }>('Runtime.getProperties', { objectId: sc.object.objectId, ownProperties: true, generatePreview: true }, left());
        const vars: Record<string, string> = {};
        for (const p of props.result.slice(0, 20)) vars[p.name.slice(0, 100)] = renderRemote(p.value);
        scopes.push({ type: sc.type, vars });
      }
      record.frames.push({ function: f.functionName, url: f.url || urls.get(f.location.scriptId) || '', line: f.location.lineNumber + 1, column: (f.location.columnNumber ?? 0) + 1, scopes });
    }
  } catch (err) {
    record.problem = (err as Error).message;
  } finally {
    currentSession()!.off('Debugger.scriptParsed', onScript);
    try {
      if (paused) await post('Debugger.resume', {}, 500);
    } catch {}
    try {
      await post('Debugger.disable', {}, 500);
    } catch {}
  }
  record.tookMs = Math.round(performance.now() - t0);
  try {
    await callMain('addLocals', [episode, record], 1000);
  } catch (err) {
    hookFailure('adding locals to the hang bundle', err);
  }
}
