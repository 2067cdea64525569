/**
 * Where a variable that holds objects lives in the source: "pendingOrders (orders.js:31)".
 *
 * A context variable is a `context` edge of a `system / Context`. Its ScopeInfo (`scope_info`) is
 * shared with the SharedFunctionInfo of the function that created the context
 * (`name_or_scope_info`); that function's closures (`shared`) have a location in the snapshot's
 * `locations` section, and the SharedFunctionInfo names its Script (`script_or_debug_info` in V8 11,
 * `script` later), whose `source` edge holds the source (V8 cuts it to 1,024 characters). The
 * declaration's line is then found in the source (declarations.ts); without the source, the
 * function's own line is given, and `of` says which.
 *
 * A CommonJS module's top level is the module wrapper's context, whose closure is usually gone by
 * the time of the snapshot: its file then comes from the functions defined in it, and its line is 1.
 */
import { fileURLToPath } from 'node:url';
import type { Retainers } from './graph';
import { declarationLine, declarationLineFrom, offsetOf } from './declarations';
import type { RetainerPath } from './retainer-paths';
import type { SnapshotWithLocations } from './summary';

export interface SourceLocation {
  /** The variable: the chain shown may stop before it (it keeps the first 4 steps). */
  variable: string;
  /** A path when V8 named the script by a path or a file:// URL; else the script's name as V8 gave it. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based; for `of: 'function'` only (where the function's parameters start). */
  column?: number;
  /** `declaration`: the line declaring the variable; `function`: the line of the function whose scope holds it. */
  of: 'declaration' | 'function';
  /** The function whose scope holds the variable; '' for a module's or script's top level. */
  function?: string;
}

export interface LocateOptions {
  /**
   * The whole source of a script file, for when the snapshot's copy is cut short. Used only when it
   * starts with the snapshot's copy (so it is the same file). Undefined: not readable.
   */
  readSource?: (file: string) => string | undefined;
}

/** V8's default --heap-snapshot-string-limit: a source string this long may have been cut. */
const SNAPSHOT_STRING_LIMIT = 1024;
const NONE = 0xffffffff;

/** A script name as a path: file:// URLs converted; anything else (node:internal/…, https://…) as it is. */
export function scriptPath(name: string): string {
  if (!name.startsWith('file://')) return name;
  try {
    return fileURLToPath(name);
  } catch {
    return name;
  }
}

/** The context edge that names the holding variable: the first one from the object outwards. */
export function holdingVariable(p: RetainerPath): { context: number; name: string } | undefined {
  const st = p.steps.find((x) => x.edgeType === 'context');
  return st && { context: st.node, name: st.edge };
}

/**
 * Finds source locations of context variables in one snapshot. Lookups are cached per context and
 * name; the first one scans the `locations` section once (for its order).
 */
export class VariableLocator {
  private readonly cache = new Map<string, SourceLocation | undefined>();
  private readonly sources = new Map<number, string>();
  private sorted?: boolean;
  private readonly eInternal: number;
  private readonly tClosure: number;
  private readonly tCode: number;

  constructor(
    private readonly a: { s: SnapshotWithLocations; retainers: Retainers },
    private readonly opts: LocateOptions = {},
  ) {
    const s = a.s;
    this.eInternal = s.edgeTypes.indexOf('internal');
    this.tClosure = s.nodeTypes.indexOf('closure');
    this.tCode = s.nodeTypes.indexOf('code');
  }

  /** The location of the holding variable of a retainer path (see holdingVariable). */
  ofPath(p: RetainerPath): SourceLocation | undefined {
    const v = holdingVariable(p);
    return v && this.of(v.context, v.name);
  }

  /** The location of variable `name` of the Context node `context`. */
  of(context: number, name: string): SourceLocation | undefined {
    const key = `${context}:${name}`;
    if (!this.cache.has(key)) this.cache.set(key, this.find(context, name));
    return this.cache.get(key);
  }

  private find(context: number, name: string): SourceLocation | undefined {
    const { s } = this.a;
    const previous = this.edge(context, 'previous');
    const topLevel = previous >= 0 && /^system \/ (NativeContext|ScriptContext)$/.test(s.strings.get(s.nodeName[previous]));
    const creator = this.creator(context);
    // A function defined in the scope: for the file when the creator is gone, for the line when its closure is.
    const inner = creator && creator.loc >= 0 ? undefined : this.definedIn(context);
    const sfi = creator?.sfi ?? inner?.sfi;
    const script = sfi === undefined ? -1 : this.script(sfi);
    if (script < 0) return undefined;
    const file = scriptPath(s.strings.get(s.nodeName[script]));
    const fnName = topLevel ? '' : creator ? s.strings.get(s.nodeName[creator.sfi]) : undefined;
    const pos = (loc: number) => ({ line: this.field(loc, 2) + 1, column: this.field(loc, 3) + 1 });
    const at = creator && creator.loc >= 0 && !topLevel ? pos(creator.loc) : undefined;
    const source = this.source(script, file);
    if (source !== undefined) {
      let line: number | undefined;
      if (topLevel) line = declarationLine(source, name, 0, true);
      else if (at) line = declarationLine(source, name, offsetOf(source, at.line, at.column), false);
      else if (inner && inner.loc >= 0) {
        // The creating function is gone (only its SharedFunctionInfo is left): look up the name
        // lexically from a function defined in its scope.
        const p = pos(inner.loc);
        line = declarationLineFrom(source, name, offsetOf(source, p.line, p.column));
      }
      if (line !== undefined) return fnName === undefined ? { variable: name, file, line, of: 'declaration' } : { variable: name, file, line, of: 'declaration', function: fnName };
    }
    if (topLevel) return { variable: name, file, line: 1, column: 1, of: 'function', function: '' };
    if (at) return { variable: name, file, ...at, of: 'function', function: fnName };
    return undefined;
  }

  /** The SharedFunctionInfo that created the context, and its closure's location entry (or -1). */
  private creator(context: number): { sfi: number; loc: number } | undefined {
    const { s, retainers: r } = this.a;
    const scopeInfo = this.edge(context, 'scope_info');
    if (scopeInfo < 0) return undefined;
    for (let i = r.firstRetainer[scopeInfo]; i < r.firstRetainer[scopeInfo + 1]; i++) {
      const sfi = r.retainingNodes[i];
      if (s.nodeType[sfi] !== this.tCode || !this.named(r.retainingEdges[i], 'name_or_scope_info', 'scope_info')) continue;
      let loc = -1;
      for (let k = r.firstRetainer[sfi]; k < r.firstRetainer[sfi + 1] && loc < 0; k++) {
        const fn = r.retainingNodes[k];
        if (s.nodeType[fn] === this.tClosure && this.named(r.retainingEdges[k], 'shared')) loc = this.locationOf(fn);
      }
      return { sfi, loc };
    }
    return undefined;
  }

  /**
   * A function defined in the context's scope (or in a scope inside it), preferring one with a
   * location: its script is the context's, and its position is inside the scope.
   */
  private definedIn(context: number): { sfi: number; loc: number } | undefined {
    const { s, retainers: r } = this.a;
    let any: { sfi: number; loc: number } | undefined;
    let level = [context];
    for (let depth = 0; depth < 3 && level.length; depth++) {
      const next: number[] = [];
      for (const c of level) {
        for (let i = r.firstRetainer[c]; i < r.firstRetainer[c + 1]; i++) {
          const from = r.retainingNodes[i];
          const edge = r.retainingEdges[i];
          if (s.nodeType[from] === this.tClosure && this.named(edge, 'context')) {
            const sfi = this.edge(from, 'shared');
            if (sfi < 0) continue;
            const loc = depth === 0 ? this.locationOf(from) : -1;
            if (loc >= 0) return { sfi, loc };
            any ??= { sfi, loc };
          } else if (this.named(edge, 'previous') && next.length < 64) next.push(from);
        }
      }
      level = next;
    }
    return any;
  }

  /** The Script node of a SharedFunctionInfo, or -1. */
  private script(sfi: number): number {
    let n = this.edge(sfi, 'script_or_debug_info');
    if (n < 0) n = this.edge(sfi, 'script');
    if (n >= 0 && this.edge(n, 'source') < 0) n = this.edge(n, 'script'); // a DebugInfo
    return n >= 0 && this.edge(n, 'source') >= 0 ? n : -1;
  }

  /** The script's source: the snapshot's copy, or the file when the copy was cut and the file matches. */
  private source(script: number, file: string): string | undefined {
    const cached = this.sources.get(script);
    if (cached !== undefined) return cached;
    const { s } = this.a;
    const node = this.edge(script, 'source');
    let text = s.strings.get(s.nodeName[node]);
    if (text.length >= SNAPSHOT_STRING_LIMIT && this.opts.readSource) {
      const full = this.opts.readSource(file);
      if (full !== undefined && full.startsWith(text)) text = full;
    }
    this.sources.set(script, text);
    return text;
  }

  /** The target of node's internal edge `name`, or -1. */
  private edge(node: number, name: string): number {
    const s = this.a.s;
    for (let e = s.firstEdge[node]; e < s.firstEdge[node + 1]; e++) {
      if (s.edgeType[e] === this.eInternal && s.strings.get(s.edgeName[e]) === name) return s.edgeTo[e];
    }
    return -1;
  }

  private named(edge: number, ...names: string[]): boolean {
    const s = this.a.s;
    return s.edgeType[edge] === this.eInternal && names.includes(s.strings.get(s.edgeName[edge]));
  }

  private field(loc: number, k: number): number {
    const v = this.a.s.locations![loc + k];
    return v === NONE ? 0 : v;
  }

  /** The offset of node's entry in s.locations, or -1. V8 writes them in node order: binary search then. */
  private locationOf(node: number): number {
    const loc = this.a.s.locations;
    if (!loc) return -1;
    if (this.sorted === undefined) {
      this.sorted = true;
      for (let i = 4; i < loc.length && this.sorted; i += 4) this.sorted = loc[i - 4] < loc[i];
    }
    if (this.sorted) {
      let lo = 0;
      let hi = loc.length / 4 - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        const v = loc[mid * 4];
        if (v === node) return mid * 4;
        if (v < node) lo = mid + 1;
        else hi = mid - 1;
      }
      return -1;
    }
    for (let i = 0; i < loc.length; i += 4) if (loc[i] === node) return i;
    return -1;
  }
}
