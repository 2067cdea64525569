/**
 * Bounded, side-effect-free previews of arbitrary values from a crashing app: never calls getters,
 * toString, toJSON or Proxy traps it can avoid, and bounds depth, keys, array items and string length.
 */
export interface PreviewLimits {
  depth: number;
  keys: number;
  items: number;
  string: number;
}

export const PREVIEW_LIMITS: PreviewLimits = { depth: 2, keys: 30, items: 20, string: 1000 };

export function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

function constructorName(obj: object): string {
  try {
    let proto = Object.getPrototypeOf(obj);
    if (proto === null) return 'Object';
    const d = Object.getOwnPropertyDescriptor(proto, 'constructor');
    const fn = d && 'value' in d ? d.value : undefined;
    const name = typeof fn === 'function' ? Object.getOwnPropertyDescriptor(fn, 'name')?.value : undefined;
    return typeof name === 'string' && name ? name : 'Object';
  } catch {
    return 'Object';
  }
}

export function previewValue(value: unknown, limits: PreviewLimits = PREVIEW_LIMITS, depth = 0, seen: Set<object> = new Set()): unknown {
  try {
    switch (typeof value) {
      case 'string':
        return cut(value, limits.string);
      case 'number':
        return Number.isFinite(value) ? value : String(value);
      case 'boolean':
        return value;
      case 'undefined':
        return '[undefined]';
      case 'bigint':
        return `${value}n`;
      case 'symbol':
        return `[${cut(value.toString(), 100)}]`;
      case 'function': {
        const name = Object.getOwnPropertyDescriptor(value, 'name')?.value;
        return `[Function${typeof name === 'string' && name ? ` ${cut(name, 100)}` : ''}]`;
      }
    }
    if (value === null) return null;
    const obj = value as object;
    if (seen.has(obj)) return '[Circular]';
    const ctor = constructorName(obj);
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? '[Invalid Date]' : value.toISOString();
    if (depth >= limits.depth) return Array.isArray(obj) ? `[Array(${(obj as unknown[]).length})]` : `[${ctor}]`;
    if (value instanceof Map) return `[Map(${value.size})]`;
    if (value instanceof Set) return `[Set(${value.size})]`;
    if (ArrayBuffer.isView(value)) return `[${ctor}(${(value as unknown as { length?: number }).length ?? value.byteLength})]`;
    seen.add(obj);
    try {
      if (Array.isArray(obj)) {
        const out: unknown[] = [];
        const n = Math.min(obj.length, limits.items);
        for (let i = 0; i < n; i++) {
          const d = Object.getOwnPropertyDescriptor(obj, i);
          out.push(d && 'value' in d ? previewValue(d.value, limits, depth + 1, seen) : '[Getter]');
        }
        if (obj.length > n) out.push(`… ${obj.length - n} more`);
        return out;
      }
      const out: Record<string, unknown> = {};
      if (ctor !== 'Object') out['[class]'] = ctor;
      let count = 0;
      const keys = Object.keys(obj);
      for (const key of keys) {
        if (count++ >= limits.keys) {
          out['…'] = `${keys.length - limits.keys} more keys`;
          break;
        }
        const d = Object.getOwnPropertyDescriptor(obj, key);
        out[cut(key, 200)] = d && 'value' in d ? previewValue(d.value, limits, depth + 1, seen) : '[Getter]';
      }
      return out;
    } finally {
      seen.delete(obj);
    }
  } catch {
    return '[Unreadable]';
  }
}
