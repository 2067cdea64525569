/**
 * Secrets redaction. Runs synchronously inside a crashing process, so every public entry point is
 * guarded and fails closed (returns [redacted] rather than the input) instead of throwing.
 *
 * Rules:
 * - A name (env var, argv flag, object/JSON key) "looks secret" by looksSecret(); its value is
 *   redacted where it stands, and the name goes into `names` (never the value).
 * - Values of 6+ characters are also collected as secrets and replaced wherever they appear
 *   (stacks, messages, other variables, command lines). Shorter ones are NOT replaced globally:
 *   a value like "true" or "1234" would shred unrelated text, and carries little to leak.
 * - Passwords in URLs (scheme://user:pass@host) are redacted everywhere. When an env var or an argv
 *   value holds such a URL, the password also becomes a global secret and the name is reported.
 */

export const REDACTED = '[redacted]';

/** Values shorter than this are redacted at their named place only (see above). */
const MIN_GLOBAL_LENGTH = 6;

export interface Redactor {
  /** Env var names / argv flags whose values were redacted (sorted, unique). Never values. */
  names: string[];
  redactString(s: string): string;
  redactJsonText(json: string): string;
  redactArgv(argv: string[]): string[];
  redactEnv(env: Record<string, string | undefined>): Record<string, string>;
  redactReport(report: any): any;
}

/*
 * Secret words, matched on the upper-cased name after camelCase is split with "_"
 * (apiKey -> API_KEY). Deliberate choices, to keep false positives cheap and rare:
 * - KEY/KEYS must end a word: API_KEY, APIKEY, ACCESS_KEY_ID yes; KEYBOARD, KEYCHAIN no.
 *   MONKEY or SSH_KEY_PATH still match; over-redacting those is harmless.
 * - AUTH, but not AUTHOR/AUTHORITY (npm_package_author_name, XAUTHORITY); AUTHORIZATION matches.
 * - PASS as a whole word (DB_PASS) and PASSPHRASE, in addition to PASSWORD/PASSWD;
 *   BYPASS and PASSENGER do not match.
 * - PWD anywhere (MYSQL_PWD), except the working-directory variables in NOT_SECRET.
 */
const SECRET_WORDS =
  /TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|COOKIE|SESSION|DSN|PRIVATE|PWD|AUTH(?!OR(?!I[SZ]))|KEYS?(?![A-Z])|(?:^|[^A-Z])PASS(?![A-Z])/;

/** Finds the end (`":`) of JSON keys that may look secret: every SECRET_WORDS match holds one of these. */
const KEY_CANDIDATE = /(?:token|secret|pass|pwd|credential|cookie|session|dsn|private|auth|key)[^"\\]{0,128}":/gi;

/** Well-known variables that contain a secret word but hold no secret. */
const NOT_SECRET = new Set([
  'PWD',
  'OLDPWD',
  'DESKTOP_SESSION',
  'SESSION_MANAGER',
  'DBUS_SESSION_BUS_ADDRESS',
  'XDG_SESSION_ID',
  'XDG_SESSION_TYPE',
  'XDG_SESSION_CLASS',
  'XDG_SESSION_DESKTOP',
  'SSH_AUTH_SOCK',
]);

/** True when the value of `name` should be treated as a secret. `extra` matches win over everything. */
export function looksSecret(name: string, extra: RegExp[] = []): boolean {
  try {
    if (typeof name !== 'string' || name === '') return false;
    for (const re of extra) {
      re.lastIndex = 0;
      if (re.test(name)) return true;
    }
    if (NOT_SECRET.has(name.toUpperCase())) return false;
    return SECRET_WORDS.test(name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase());
  } catch {
    return false;
  }
}

/**
 * Parses AUTOPSY_REDACT-style lists: comma-separated names (exact, case-insensitive, "-" and "_"
 * interchangeable) or /regex/flags (may contain commas). Invalid regexes are skipped.
 */
export function parseRedactList(spec: string | string[] | undefined): RegExp[] {
  const out: RegExp[] = [];
  const items = Array.isArray(spec) ? spec : spec === undefined ? [] : [spec];
  const entry = /\s*(?:\/((?:\\.|\[(?:\\.|[^\]\\])*\]|[^\\/[])+)\/([a-z]*)|([^,]*?))\s*(?:,|$)/y;
  for (const item of items) {
    if (typeof item !== 'string') continue;
    entry.lastIndex = 0;
    while (entry.lastIndex < item.length) {
      const at = entry.lastIndex;
      const m = entry.exec(item);
      if (!m || entry.lastIndex === at) break;
      try {
        if (m[1] !== undefined) out.push(new RegExp(m[1], m[2].replace(/[^imsu]/g, '')));
        else if (m[3]) out.push(new RegExp(`^${m[3].split(/[-_]/).map(escapeRegExp).join('[-_]')}$`, 'i'));
      } catch {
        // An invalid pattern in the user's list must not stop the capture.
      }
    }
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** scheme://user:PASS@ ; lengths are bounded so hostile text cannot make this quadratic. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]{0,31}:\/\/[^\s/?#@:"\\]{0,256}:)([^\s/"\\]{1,256})@/gi;

/** A flag with its name and optional inline value: --name, -name, --name=value. */
const FLAG = /^(--?)([A-Za-z][\w.-]*)(?:=([\s\S]*))?$/;

interface ArgvSecret {
  /** Index of the argv element holding the value. */
  index: number;
  flag: string;
  value: string;
  /** true for --flag=value, false when the value is the next element. */
  inline: boolean;
}

function findArgvSecrets(argv: readonly unknown[], isSecret: (name: string) => boolean): ArgvSecret[] {
  const found: ArgvSecret[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = typeof arg === 'string' ? FLAG.exec(arg) : null;
    if (!m || !isSecret(m[2])) continue;
    const flag = m[1] + m[2];
    if (m[3] !== undefined) {
      found.push({ index: i, flag, value: m[3], inline: true });
    } else if (!/^no-/i.test(m[2]) && typeof argv[i + 1] === 'string' && !(argv[i + 1] as string).startsWith('--')) {
      // --token VALUE. "--no-auth" is a boolean, and a following "--flag" is not a value.
      found.push({ index: i + 1, flag, value: argv[i + 1] as string, inline: false });
      i++;
    }
  }
  return found;
}

/** Sets a property even when the key is "__proto__". */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Escapes non-ASCII as \uXXXX, the other way serializers may write a secret into JSON. */
function asciiJson(s: string): string {
  return s.replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

function alternation(values: Iterable<string>): RegExp | null {
  const list = [...new Set(values)].filter((v) => v !== '').sort((a, b) => b.length - a.length);
  return list.length === 0 ? null : new RegExp(list.map(escapeRegExp).join('|'), 'g');
}

const STATE_OUT = 0;
const STATE_IN = 1;
const STATE_ESCAPED = 2;

/**
 * Tracks whether a position of JSON text lies inside a string literal, for the rare matches that
 * local checks cannot place. Queries should come in increasing order; the scan runs only as far as
 * the last query.
 */
function jsonScanner(text: string): (i: number) => number {
  let pos = 0;
  let inString = false;
  /** Characters still to come of the current escape: "\n" has 1 after the backslash, "\u00e9" 5. */
  let escape = 0;
  const special = /["\\]/g;
  return (i) => {
    if (i < pos) {
      pos = 0;
      inString = false;
      escape = 0;
    }
    while (pos < i) {
      if (!inString) {
        const q = text.indexOf('"', pos);
        if (q < 0 || q >= i) pos = i;
        else {
          inString = true;
          pos = q + 1;
        }
      } else if (escape > 0) {
        escape = escape === 1 && text.charCodeAt(pos) === 117 ? 4 : escape - 1;
        pos++;
      } else {
        special.lastIndex = pos;
        const k = special.exec(text)?.index ?? text.length;
        if (k >= i) pos = i;
        else {
          if (text.charCodeAt(k) === 92) escape = 1;
          else inString = false;
          pos = k + 1;
        }
      }
    }
    return !inString ? STATE_OUT : escape > 0 ? STATE_ESCAPED : STATE_IN;
  };
}

/** Text that could stand outside a JSON string: numbers, literals, punctuation, whitespace. */
const MAY_BE_STRUCTURE = /^[\s\d+\-.eE{}[\],:truefalsn]*$/;

function backslashesBefore(text: string, i: number): number {
  let n = 0;
  while (i - n - 1 >= 0 && text.charCodeAt(i - n - 1) === 92) n++;
  return n;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/**
 * Whether position i of JSON string content starts a character of its own: not right after an
 * escaping backslash, nor among the four hex digits of a \uXXXX escape.
 */
function escapeAligned(text: string, i: number): boolean {
  if (backslashesBefore(text, i) % 2 === 1) return false;
  for (let d = 1; d <= 4 && i - d - 1 >= 0; d++) {
    const c = text.charCodeAt(i - d);
    if (c === 117 && text.charCodeAt(i - d - 1) === 92 && backslashesBefore(text, i - d) % 2 === 1) return false;
    if (!isHex(c)) break;
  }
  return true;
}

/**
 * Replacement ranges, as flat triples (start, end, kind) per pass, each pass in increasing order.
 * Kind 0 replaces string content with [redacted]; kind 1 replaces a number with "[redacted]".
 * Flat arrays and a merge instead of tuples and a sort: this runs cold, once, in a dying process.
 */
function applyRanges(text: string, passes: number[][]): string {
  const at = passes.map(() => 0);
  let out = '';
  let last = 0;
  let cur = -1;
  let curEnd = 0;
  let curKind = 0;
  for (;;) {
    let p = -1;
    for (let k = 0; k < passes.length; k++) {
      if (at[k] < passes[k].length && (p < 0 || passes[k][at[k]] < passes[p][at[p]])) p = k;
    }
    const start = p < 0 ? Infinity : passes[p][at[p]];
    if (cur >= 0 && start < curEnd) {
      // Overlapping ranges all lie inside one string literal: their union gets one [redacted].
      curEnd = Math.max(curEnd, passes[p][at[p] + 1]);
      curKind = 0;
    } else {
      if (cur >= 0) {
        out += text.slice(last, cur) + (curKind === 1 ? JSON.stringify(REDACTED) : REDACTED);
        last = curEnd;
      }
      if (p < 0) break;
      cur = start;
      curEnd = passes[p][at[p] + 1];
      curKind = passes[p][at[p] + 2];
    }
    at[p] += 3;
  }
  return last === 0 ? text : out + text.slice(last);
}

/** End of the JSON string whose content starts at i: the next quote not escaped by a backslash. */
function stringEnd(text: string, i: number): number {
  let q = text.indexOf('"', i);
  while (q >= 0 && backslashesBefore(text, q) % 2 === 1) q = text.indexOf('"', q + 1);
  return q;
}

const JSON_NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

export function createRedactor(env: NodeJS.ProcessEnv, argv: string[], extraNames: string[] = []): Redactor {
  try {
    return buildRedactor(env, argv, extraNames);
  } catch {
    return failClosedRedactor();
  }
}

/**
 * `env` and `argv` are the process's own (pass execArgv and argv together). Extra secret names come
 * from `extraNames` and from env.AUTOPSY_REDACT. Later calls to redactEnv/redactArgv/redactReport
 * learn secrets they find, so `names` and global replacement grow with them.
 */
function buildRedactor(env: NodeJS.ProcessEnv, argv: string[], extraNames: string[]): Redactor {
  const extra = [...parseRedactList(extraNames), ...parseRedactList(env?.AUTOPSY_REDACT)];
  const names = new Set<string>();
  const secrets = new Set<string>();
  let plainRe: RegExp | null = null;
  let jsonRe: RegExp | null = null;
  /** JSON forms that could match outside a string ("123456"): those need a real scan to place. */
  let structuralForms = new Set<string>();
  let dirty = false;

  const nameCache = new Map<string, boolean>();
  const isSecretName = (name: string): boolean => {
    let v = nameCache.get(name);
    if (v === undefined) {
      v = looksSecret(name, extra);
      if (nameCache.size < 10_000) nameCache.set(name, v);
    }
    return v;
  };

  const addSecret = (value: string): void => {
    for (const v of [value, value.trim()]) {
      if (v.length >= MIN_GLOBAL_LENGTH && !secrets.has(v)) {
        secrets.add(v);
        dirty = true;
      }
    }
  };

  /** Collects URL passwords in `value` as secrets; true when there was one. */
  const learnUrlPasswords = (value: string): boolean => {
    if (!value.includes('://')) return false;
    let found = false;
    for (const m of value.matchAll(URL_PASSWORD)) {
      found = true;
      addSecret(m[2]);
      try {
        addSecret(decodeURIComponent(m[2]));
      } catch {
        // Not valid percent-encoding: the raw form is already collected.
      }
    }
    return found;
  };

  const learnEnv = (e: Record<string, unknown>): void => {
    for (const name of Object.keys(e)) {
      const value = e[name];
      if (typeof value !== 'string' || value === '') continue;
      if (isSecretName(name)) {
        names.add(name);
        addSecret(value);
      }
      if (learnUrlPasswords(value)) names.add(name);
    }
  };

  const learnArgv = (a: readonly unknown[]): ArgvSecret[] => {
    const found = findArgvSecrets(a, isSecretName);
    for (const s of found) {
      if (s.value === '') continue;
      names.add(s.flag);
      addSecret(s.value);
    }
    for (const arg of a) {
      if (typeof arg === 'string' && learnUrlPasswords(arg)) names.add(FLAG.exec(arg)?.[3] !== undefined ? arg.slice(0, arg.indexOf('=')) : 'argv');
    }
    return found;
  };

  const rebuild = (): void => {
    plainRe = alternation(secrets);
    const forms: string[] = [];
    for (const v of secrets) {
      const j = JSON.stringify(v).slice(1, -1);
      forms.push(j, asciiJson(j));
    }
    jsonRe = alternation(forms);
    structuralForms = new Set(forms.filter((f) => MAY_BE_STRUCTURE.test(f)));
    dirty = false;
  };

  const redactString = (s: string): string => {
    if (typeof s !== 'string') return s;
    try {
      if (dirty) rebuild();
      let out = s;
      if (plainRe && out.length >= MIN_GLOBAL_LENGTH) out = out.replace(plainRe, REDACTED);
      if (out.includes('://')) out = out.replace(URL_PASSWORD, (_m, head: string) => `${head}${REDACTED}@`);
      return out;
    } catch {
      return REDACTED;
    }
  };

  const redactJsonText = (json: string): string => {
    if (typeof json !== 'string') return json;
    try {
      if (dirty) rebuild();
      const secretRanges: number[] = [];
      const keyRanges: number[] = [];
      const urlRanges: number[] = [];
      // 1. Known secrets, in their JSON-escaped forms, only where they start inside a string and
      //    not inside an escape ("\n" + "foobar" is not the secret "nfoobar").
      if (jsonRe) {
        let scan: ((i: number) => number) | undefined;
        const re = jsonRe;
        re.lastIndex = 0;
        for (let m = re.exec(json); m; m = re.exec(json)) {
          const ok = !structuralForms.has(m[0]) ? escapeAligned(json, m.index) : (scan ??= jsonScanner(json))(m.index) === STATE_IN;
          if (ok) secretRanges.push(m.index, m.index + m[0].length, 0);
          else re.lastIndex = m.index + 1;
        }
      }
      // 2. String or number values of keys that look secret, so short values go too. Keys are
      //    found from their end: `":` as JSON.stringify and Node's report writer put it (a space
      //    before the colon is not looked for), which is much cheaper than matching every string.
      //    Without extra patterns, only keys holding a secret word are visited (KEY_CANDIDATE).
      let scan: ((i: number) => number) | undefined;
      const candidates = extra.length === 0 ? KEY_CANDIDATE : null;
      if (candidates) candidates.lastIndex = 0;
      const nextKeyEnd = (from: number): number => {
        if (!candidates) return json.indexOf('":', from);
        candidates.lastIndex = from;
        const m = candidates.exec(json);
        return m ? candidates.lastIndex - 2 : -1;
      };
      for (let close = nextKeyEnd(0); close >= 0; close = nextKeyEnd(close + 2)) {
        const open = json.lastIndexOf('"', close - 1);
        if (open < 0 || close - open > 129) continue;
        const key = json.slice(open + 1, close);
        if (key === '' || key.includes('\\') || !isSecretName(key)) continue;
        // Both quotes are unescaped, so `key` is either a string or the gap between two strings;
        // only in the second case can it consist of characters allowed outside strings.
        if (backslashesBefore(json, open) % 2 === 1) continue;
        if (MAY_BE_STRUCTURE.test(key) && (scan ??= jsonScanner(json))(open) !== STATE_OUT) continue;
        let valueAt = close + 2;
        while (valueAt < json.length && json.charCodeAt(valueAt) <= 32) valueAt++;
        if (json.charCodeAt(valueAt) === 34) {
          const end = stringEnd(json, valueAt + 1);
          if (end > valueAt + 1) keyRanges.push(valueAt + 1, end, 0);
        } else {
          JSON_NUMBER.lastIndex = valueAt;
          const n = JSON_NUMBER.exec(json);
          if (n) keyRanges.push(valueAt, valueAt + n[0].length, 1);
        }
      }
      // 3. URL passwords: they hold no quote or backslash, so they sit wholly inside one string.
      if (json.includes('://')) {
        for (const m of json.matchAll(URL_PASSWORD)) {
          const start = m.index + m[1].length;
          urlRanges.push(start, start + m[2].length, 0);
        }
      }
      return applyRanges(json, [secretRanges, keyRanges, urlRanges]);
    } catch {
      return JSON.stringify(REDACTED);
    }
  };

  const redactArgvNow = (a: readonly unknown[]): string[] => {
    const found = learnArgv(a);
    const byIndex = new Map(found.map((s) => [s.index, s]));
    return a.map((arg, i) => {
      const s = byIndex.get(i);
      if (s && s.value !== '') return s.inline ? `${s.flag}=${REDACTED}` : REDACTED;
      return typeof arg === 'string' ? redactString(arg) : String(arg);
    });
  };

  const redactEnvNow = (e: Record<string, unknown>): Record<string, string> => {
    learnEnv(e);
    const out: Record<string, string> = {};
    for (const name of Object.keys(e)) {
      const value = e[name];
      if (typeof value !== 'string') continue;
      setOwn(out, name, value !== '' && isSecretName(name) ? REDACTED : redactString(value));
    }
    return out;
  };

  const MAX_DEPTH = 64;

  /** Learns from every environmentVariables / commandLine in the report (workers have their own). */
  const learnReport = (v: unknown, depth: number): void => {
    if (typeof v !== 'object' || v === null || depth > MAX_DEPTH) return;
    if (Array.isArray(v)) {
      for (const x of v) learnReport(x, depth + 1);
      return;
    }
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k];
      if (k === 'environmentVariables' && isRecord(x)) learnEnv(x);
      else if (k === 'commandLine' && Array.isArray(x)) learnArgv(x);
      else learnReport(x, depth + 1);
    }
  };

  const redactValue = (v: unknown, depth: number, seen: Set<object>): unknown => {
    if (typeof v === 'string') return redactString(v);
    if (typeof v !== 'object' || v === null) return v;
    if (depth > MAX_DEPTH) return '[depth]';
    if (seen.has(v)) return '[circular]';
    seen.add(v);
    try {
      if (Array.isArray(v)) return v.map((x) => redactValue(x, depth + 1, seen));
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const x = (v as Record<string, unknown>)[k];
        let r: unknown;
        if (k === 'environmentVariables' && isRecord(x)) r = redactEnvNow(x);
        else if (k === 'commandLine' && Array.isArray(x)) r = redactArgvNow(x);
        else if (isSecretName(k) && (typeof x === 'number' || (typeof x === 'string' && x !== ''))) r = REDACTED;
        else r = redactValue(x, depth + 1, seen);
        setOwn(out, redactString(k), r);
      }
      return out;
    } finally {
      seen.delete(v);
    }
  };

  learnEnv(env ?? {});
  learnArgv(Array.isArray(argv) ? argv : []);

  return {
    get names() {
      return [...names].sort();
    },
    redactString,
    redactJsonText,
    redactArgv(a) {
      try {
        return redactArgvNow(Array.isArray(a) ? a : []);
      } catch {
        return Array.isArray(a) ? a.map(() => REDACTED) : [];
      }
    },
    redactEnv(e) {
      try {
        return redactEnvNow(isRecord(e) ? e : {});
      } catch {
        return {};
      }
    },
    redactReport(report) {
      try {
        learnReport(report, 0);
        return redactValue(report, 0, new Set());
      } catch {
        return { redacted: REDACTED };
      }
    },
  };
}

/** Used only if building a redactor failed: hides everything rather than leak anything. */
function failClosedRedactor(): Redactor {
  return {
    names: [],
    redactString: () => REDACTED,
    redactJsonText: () => JSON.stringify(REDACTED),
    redactArgv: (a) => (Array.isArray(a) ? a.map(() => REDACTED) : []),
    redactEnv: () => ({}),
    redactReport: () => ({ redacted: REDACTED }),
  };
}
