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
 * Tracks whether a position of JSON text lies inside a string literal. Queries must come in
 * increasing order; the scan runs only as far as the last query, so text without matches costs nothing.
 */
function jsonScanner(text: string): (i: number) => number {
  let pos = 0;
  let inString = false;
  /** Characters still to come of the current escape: "\\n" has 1 after the backslash, "\\u00e9" 5. */
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

type Range = [start: number, end: number, text: string];

function applyRanges(text: string, ranges: Range[]): string {
  if (ranges.length === 0) return text;
  ranges.sort((a, b) => a[0] - b[0]);
  const parts: string[] = [];
  let last = 0;
  let cur = ranges[0];
  for (let k = 1; k <= ranges.length; k++) {
    const next = ranges[k];
    // Overlapping ranges all lie inside one string literal, so their union gets one [redacted].
    if (next && next[0] < cur[1]) {
      cur = [cur[0], Math.max(cur[1], next[1]), REDACTED];
      continue;
    }
    parts.push(text.slice(last, cur[0]), cur[2]);
    last = cur[1];
    if (next) cur = next;
  }
  parts.push(text.slice(last));
  return parts.join('');
}

/** The end of an object key, up to its value. */
const KEY_END = /"[ \t\r\n]*:[ \t\r\n]*/g;
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
      const ranges: Range[] = [];
      // 1. Known secrets, in their JSON-escaped forms, only where they start inside a string and
      //    not right after an escaping backslash ("\n" + "foobar" is not the secret "nfoobar").
      if (jsonRe) {
        const state = jsonScanner(json);
        const re = jsonRe;
        re.lastIndex = 0;
        for (let m = re.exec(json); m; m = re.exec(json)) {
          if (state(m.index) === STATE_IN) ranges.push([m.index, m.index + m[0].length, REDACTED]);
          else re.lastIndex = m.index + 1;
        }
      }
      // 2. String or number values of keys that look secret, so short values go too. Keys are
      //    found from their end (`"` then `:`), which is much cheaper than matching every string.
      const state = jsonScanner(json);
      KEY_END.lastIndex = 0;
      for (let m = KEY_END.exec(json); m; m = KEY_END.exec(json)) {
        const close = m.index;
        const open = json.lastIndexOf('"', close - 1);
        if (open < 0 || close - open > 129) continue;
        const key = json.slice(open + 1, close);
        if (key === '' || key.includes('\\') || !isSecretName(key)) continue;
        if (state(open) !== STATE_OUT || state(close) !== STATE_IN) continue;
        const valueAt = close + m[0].length;
        if (json.charCodeAt(valueAt) === 34) {
          let j = valueAt + 1;
          while (j < json.length) {
            const c = json.charCodeAt(j);
            if (c === 34) break;
            j += c === 92 ? 2 : 1;
          }
          if (j < json.length && j > valueAt + 1) ranges.push([valueAt + 1, j, REDACTED]);
        } else {
          JSON_NUMBER.lastIndex = valueAt;
          const n = JSON_NUMBER.exec(json);
          if (n) ranges.push([valueAt, valueAt + n[0].length, JSON.stringify(REDACTED)]);
        }
      }
      // 3. URL passwords: they hold no quote or backslash, so they sit wholly inside one string.
      if (json.includes('://')) {
        for (const m of json.matchAll(URL_PASSWORD)) {
          const start = m.index + m[1].length;
          ranges.push([start, start + m[2].length, REDACTED]);
        }
      }
      return applyRanges(json, ranges);
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
