/**
 * A small validator for the JSON Schema (draft 2020-12) subset docs/bundle-schema.json uses:
 * type (string or array, "integer"), required, properties, additionalProperties, items, enum, const,
 * pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, minItems,
 * maxItems, $ref to "#/$defs/...", anyOf, oneOf, and boolean schemas.
 *
 * Unknown keywords are ignored; a $ref anywhere but "#/$defs/" is reported as an error.
 * As in 2020-12, keywords next to $ref apply too. When `type` fails, the schema's other keywords are
 * skipped, so one wrong value gives one message. Bounded for hostile input: nesting depth, total work
 * and the number of messages are all capped.
 */

const MAX_ERRORS = 50;
const MAX_DEPTH = 64;
/** Schema applications per check; anyOf over recursive $refs could otherwise grow exponentially. */
const MAX_STEPS = 500_000;

type SchemaObject = Record<string, unknown>;

interface Context {
  root: SchemaObject;
  errors: string[];
  steps: number;
  aborted: boolean;
  patterns: Map<string, RegExp | null>;
}

/**
 * Validates `value` against `schema` (whose $defs serve $ref). Returns messages such as
 * `files[2].sha256: must match ^[0-9a-f]{64}$`, at most 50; an empty array when valid.
 * Messages about the value itself have no path prefix.
 */
export function checkSchema(schema: object, value: unknown): string[] {
  const ctx: Context = { root: schema as SchemaObject, errors: [], steps: 0, aborted: false, patterns: new Map() };
  try {
    validate(schema, value, null, 0, ctx);
  } catch (err) {
    add(ctx, null, `schema check failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  return ctx.errors.slice(0, MAX_ERRORS);
}

/** Where a value sits, built as a chain while descending and turned into text only for messages. */
type Path = { up: Path; key: string | number } | null;

function add(ctx: Context, path: Path, message: string): void {
  if (ctx.errors.length < MAX_ERRORS) ctx.errors.push(path ? `${formatPath(path)}: ${message}` : message);
}

/** add(), returning false so that a check reads `ok = fail(...)`. */
function fail(ctx: Context, path: Path, message: string): false {
  add(ctx, path, message);
  return false;
}

function isObject(v: unknown): v is SchemaObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** files[2].sha256; keys that are not identifiers in brackets: a["d-e"]. */
function formatPath(path: Path): string {
  const parts: string[] = [];
  for (let p = path; p; p = p.up) {
    const k = p.key;
    if (typeof k === 'number') parts.push(`[${k}]`);
    else if (!/^[A-Za-z_$][\w$]*$/.test(k)) parts.push(`[${JSON.stringify(k)}]`);
    else parts.push(p.up ? `.${k}` : k);
  }
  return parts.reverse().join('');
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function hasType(v: unknown, type: unknown): boolean {
  switch (type) {
    case 'null':
      return v === null;
    case 'array':
      return Array.isArray(v);
    case 'object':
      return isObject(v);
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'string':
    case 'boolean':
      return typeof v === type;
    default:
      return false;
  }
}

/** JSON equality; bounded by the depth of the schema-side value, which is never hostile input. */
function equal(a: unknown, b: unknown, depth = 0): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || depth > MAX_DEPTH) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equal(x, b[i], depth + 1));
  const ka = Object.keys(a);
  const bo = b as SchemaObject;
  return ka.length === Object.keys(bo).length && ka.every((k) => Object.hasOwn(bo, k) && equal((a as SchemaObject)[k], bo[k], depth + 1));
}

function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = typeof v;
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Length in code points, as JSON Schema counts it. */
function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

function pattern(ctx: Context, source: string): RegExp | null {
  if (!ctx.patterns.has(source)) {
    let re: RegExp | null = null;
    try {
      re = new RegExp(source, 'u');
    } catch {
      re = null;
    }
    ctx.patterns.set(source, re);
  }
  return ctx.patterns.get(source) ?? null;
}

function resolveRef(root: SchemaObject, ref: string): unknown {
  const m = /^#\/\$defs\/([^/]+)$/.exec(ref);
  if (!m || !isObject(root.$defs)) return undefined;
  const name = m[1].replace(/~1/g, '/').replace(/~0/g, '~');
  return Object.hasOwn(root.$defs, name) ? root.$defs[name] : undefined;
}

/** Whether `value` has the top-level type `schema` asks for (following a few $refs). */
function typeFits(root: SchemaObject, schema: unknown, value: unknown): boolean {
  for (let hops = 0; hops < 8 && isObject(schema); hops++) {
    if (schema.type !== undefined) {
      const types = Array.isArray(schema.type) ? schema.type : [schema.type];
      return types.some((t) => hasType(value, t));
    }
    if (typeof schema.$ref !== 'string') break;
    schema = resolveRef(root, schema.$ref);
  }
  return true;
}

/** Applies `schema` to `value`; pushes messages into ctx and returns whether the value is valid. */
function validate(schema: unknown, value: unknown, path: Path, depth: number, ctx: Context): boolean {
  if (ctx.aborted) return false;
  if (++ctx.steps > MAX_STEPS) {
    ctx.aborted = true;
    add(ctx, path, 'validation stopped: schema too costly for this value');
    return false;
  }
  if (depth > MAX_DEPTH) {
    add(ctx, path, `nested deeper than ${MAX_DEPTH} levels`);
    return false;
  }
  if (schema === true) return true;
  if (schema === false) {
    add(ctx, path, 'is not allowed');
    return false;
  }
  if (!isObject(schema)) {
    add(ctx, path, `schema error: ${show(schema)} is not a schema`);
    return false;
  }

  const s = schema;
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => hasType(value, t))) {
      add(ctx, path, `must be ${types.join(' or ')} (got ${typeOf(value)})`);
      return false;
    }
  }

  let ok = true;

  if ('const' in s && !equal(s.const, value)) ok = fail(ctx, path, `must equal ${show(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.some((e) => equal(e, value))) {
    ok = fail(ctx, path, `must be one of ${s.enum.slice(0, 10).map(show).join(', ')}${s.enum.length > 10 ? ', ...' : ''}`);
  }

  if (typeof value === 'string') {
    if (typeof s.minLength === 'number' || typeof s.maxLength === 'number') {
      const n = codePoints(value);
      if (typeof s.minLength === 'number' && n < s.minLength) ok = fail(ctx, path, `must be at least ${s.minLength} characters long`);
      if (typeof s.maxLength === 'number' && n > s.maxLength) ok = fail(ctx, path, `must be at most ${s.maxLength} characters long`);
    }
    if (typeof s.pattern === 'string') {
      const re = pattern(ctx, s.pattern);
      if (!re) ok = fail(ctx, path, `schema error: invalid pattern ${s.pattern}`);
      else if (!re.test(value)) ok = fail(ctx, path, `must match ${s.pattern}`);
    }
  }

  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) ok = fail(ctx, path, `must be >= ${s.minimum}`);
    if (typeof s.maximum === 'number' && value > s.maximum) ok = fail(ctx, path, `must be <= ${s.maximum}`);
    if (typeof s.exclusiveMinimum === 'number' && value <= s.exclusiveMinimum) ok = fail(ctx, path, `must be > ${s.exclusiveMinimum}`);
    if (typeof s.exclusiveMaximum === 'number' && value >= s.exclusiveMaximum) ok = fail(ctx, path, `must be < ${s.exclusiveMaximum}`);
  }

  if (Array.isArray(value)) {
    if (typeof s.minItems === 'number' && value.length < s.minItems) ok = fail(ctx, path, `must have at least ${s.minItems} items`);
    if (typeof s.maxItems === 'number' && value.length > s.maxItems) ok = fail(ctx, path, `must have at most ${s.maxItems} items`);
    if (s.items !== undefined) {
      for (let i = 0; i < value.length && !ctx.aborted; i++) {
        // The pre-2020 tuple form (an array of schemas) checks positions; extra items are free.
        const item = Array.isArray(s.items) ? s.items[i] ?? true : s.items;
        if (!validate(item, value[i], { up: path, key: i }, depth + 1, ctx)) ok = false;
      }
    }
  }

  if (isObject(value)) {
    const props = isObject(s.properties) ? s.properties : {};
    if (Array.isArray(s.required)) {
      for (const key of s.required) {
        if (typeof key === 'string' && !Object.hasOwn(value, key)) {
          ok = false;
          add(ctx, { up: path, key }, 'is required');
        }
      }
    }
    for (const key of Object.keys(value)) {
      if (ctx.aborted) break;
      const sub = Object.hasOwn(props, key) ? props[key] : s.additionalProperties;
      if (sub !== undefined && !validate(sub, value[key], { up: path, key }, depth + 1, ctx)) ok = false;
    }
  }

  if (s.$ref !== undefined) {
    const target = typeof s.$ref === 'string' ? resolveRef(ctx.root, s.$ref) : undefined;
    if (target === undefined) ok = fail(ctx, path, `schema error: unsupported or missing $ref ${show(s.$ref)} (only #/$defs/... is supported)`);
    else if (!validate(target, value, path, depth + 1, ctx)) ok = false;
  }

  if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
    if (Array.isArray(s.anyOf) && !combine('anyOf', s.anyOf, value, path, depth, ctx)) ok = false;
    if (Array.isArray(s.oneOf) && !combine('oneOf', s.oneOf, value, path, depth, ctx)) ok = false;
  }
  return ok;
}

/**
 * anyOf / oneOf: each branch is tried on its own message list. When no branch fits, the messages of
 * the closest branch (its type fits, then fewest messages) follow the summary: usually the intended one.
 */
function combine(keyword: 'anyOf' | 'oneOf', branches: unknown[], value: unknown, path: Path, depth: number, ctx: Context): boolean {
  const passed: number[] = [];
  let closest: string[] | undefined;
  let closestIndex = 0;
  let closestScore = 0;
  for (let i = 0; i < branches.length && !ctx.aborted; i++) {
    const trial: Context = { ...ctx, errors: [] };
    const valid = validate(branches[i], value, path, depth + 1, trial);
    ctx.steps = trial.steps;
    if (trial.aborted) {
      ctx.aborted = true;
      ctx.errors.push(...trial.errors.slice(0, MAX_ERRORS - ctx.errors.length));
      return false;
    }
    if (valid) {
      passed.push(i);
      if (keyword === 'anyOf') return true;
    } else {
      // A branch whose type does not even fit is a poor explanation, whatever its message count.
      const score = trial.errors.length + (typeFits(ctx.root, branches[i], value) ? 0 : MAX_ERRORS);
      if (closest === undefined || score < closestScore) {
        closest = trial.errors;
        closestIndex = i;
        closestScore = score;
      }
    }
  }
  if (keyword === 'oneOf' && passed.length === 1) return true;
  if (passed.length > 1) {
    add(ctx, path, `must match exactly one schema in oneOf (matched branches ${passed.join(', ')})`);
    return false;
  }
  const which = keyword === 'anyOf' ? 'at least one' : 'exactly one';
  add(ctx, path, `must match ${which} schema in ${keyword}${closest ? ` (closest: branch ${closestIndex})` : ''}`);
  for (const e of closest ?? []) if (ctx.errors.length < MAX_ERRORS) ctx.errors.push(e);
  return false;
}
