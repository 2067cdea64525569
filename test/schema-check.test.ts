import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers';
import { checkSchema } from '../src/bundle/schema-check';

test('type: single, arrays of types, integer vs number, null, object vs array', () => {
  assert.deepEqual(checkSchema({ type: 'string' }, 'x'), []);
  assert.deepEqual(checkSchema({ type: 'string' }, 1), ['must be string (got integer)']);
  assert.deepEqual(checkSchema({ type: ['string', 'null'] }, null), []);
  assert.deepEqual(checkSchema({ type: ['string', 'number'] }, true), ['must be string or number (got boolean)']);
  assert.deepEqual(checkSchema({ type: 'integer' }, 3), []);
  assert.deepEqual(checkSchema({ type: 'integer' }, 3.5), ['must be integer (got number)']);
  assert.deepEqual(checkSchema({ type: 'number' }, 3), []);
  assert.deepEqual(checkSchema({ type: 'object' }, []), ['must be object (got array)']);
  assert.deepEqual(checkSchema({ type: 'array' }, {}), ['must be array (got object)']);
  assert.deepEqual(checkSchema({ type: 'object' }, null), ['must be object (got null)']);
  assert.deepEqual(checkSchema({ type: 'boolean' }, false), []);
});

test('a failed type skips the other keywords of that schema', () => {
  assert.deepEqual(checkSchema({ type: 'string', minLength: 3, pattern: '^a' }, 12), ['must be string (got integer)']);
});

test('required, properties and nested paths', () => {
  const schema = {
    type: 'object',
    required: ['a', 'b'],
    properties: { a: { type: 'object', required: ['c'], properties: { c: { type: 'string' }, 'd-e': { type: 'integer' } } } },
  };
  assert.deepEqual(checkSchema(schema, { a: { c: 'x' }, b: 1 }), []);
  assert.deepEqual(checkSchema(schema, { a: { 'd-e': 'no' } }), ['b: is required', 'a.c: is required', 'a["d-e"]: must be integer (got string)']);
});

test('additionalProperties: false, or a schema', () => {
  const closed = { type: 'object', properties: { a: {} }, additionalProperties: false };
  assert.deepEqual(checkSchema(closed, { a: 1 }), []);
  assert.deepEqual(checkSchema(closed, { a: 1, b: 2 }), ['b: is not allowed']);
  const typed = { type: 'object', properties: { a: {} }, additionalProperties: { type: 'number' } };
  assert.deepEqual(checkSchema(typed, { a: 'x', b: 2, c: 'y' }), ['c: must be number (got string)']);
});

test('items, minItems, maxItems, with indexes in paths', () => {
  const schema = { type: 'array', minItems: 1, maxItems: 3, items: { type: 'object', properties: { n: { type: 'integer' } } } };
  assert.deepEqual(checkSchema(schema, [{ n: 1 }]), []);
  assert.deepEqual(checkSchema(schema, []), ['must have at least 1 items']);
  assert.deepEqual(checkSchema(schema, [{}, {}, { n: 'x' }, {}]), ['must have at most 3 items', '[2].n: must be integer (got string)']);
  assert.deepEqual(checkSchema({ items: [{ type: 'string' }, { type: 'number' }] }, ['a', 'b', 'c']), ['[1]: must be number (got string)']);
});

test('enum and const, with deep equality', () => {
  assert.deepEqual(checkSchema({ enum: ['a', 'b'] }, 'a'), []);
  assert.deepEqual(checkSchema({ enum: ['a', 'b'] }, 'c'), ['must be one of "a", "b"']);
  assert.deepEqual(checkSchema({ enum: [{ x: [1] }] }, { x: [1] }), []);
  assert.deepEqual(checkSchema({ const: 'autopsy-bundle' }, 'autopsy-bundle'), []);
  assert.deepEqual(checkSchema({ const: 'autopsy-bundle' }, 'other'), ['must equal "autopsy-bundle"']);
  assert.deepEqual(checkSchema({ const: null }, 0), ['must equal null']);
  assert.deepEqual(checkSchema({ const: { a: 1 } }, { a: 1, b: 2 }), ['must equal {"a":1}']);
});

test('pattern, minLength, maxLength (code points), invalid pattern', () => {
  const sha = { type: 'string', pattern: '^[0-9a-f]{64}$' };
  assert.deepEqual(checkSchema(sha, 'a'.repeat(64)), []);
  assert.deepEqual(checkSchema(sha, 'A'.repeat(64)), ['must match ^[0-9a-f]{64}$']);
  assert.deepEqual(checkSchema({ minLength: 2, maxLength: 3 }, 'a'), ['must be at least 2 characters long']);
  assert.deepEqual(checkSchema({ minLength: 2, maxLength: 3 }, 'abcd'), ['must be at most 3 characters long']);
  assert.deepEqual(checkSchema({ maxLength: 2 }, '𝄞𝄞'), [], 'astral characters count once');
  assert.deepEqual(checkSchema({ pattern: '(' }, 'x'), ['schema error: invalid pattern (']);
  assert.deepEqual(checkSchema({ pattern: '^a', minLength: 5 }, 7), [], 'string keywords ignore other types');
});

test('minimum, maximum, exclusive bounds', () => {
  const s = { type: 'integer', minimum: 1, maximum: 1 };
  assert.deepEqual(checkSchema(s, 1), []);
  assert.deepEqual(checkSchema(s, 0), ['must be >= 1']);
  assert.deepEqual(checkSchema(s, 2), ['must be <= 1']);
  assert.deepEqual(checkSchema({ exclusiveMinimum: 0, exclusiveMaximum: 10 }, 0), ['must be > 0']);
  assert.deepEqual(checkSchema({ exclusiveMinimum: 0, exclusiveMaximum: 10 }, 10), ['must be < 10']);
  assert.deepEqual(checkSchema({ minimum: 5 }, 'text'), []);
});

test('$ref to #/$defs, recursive refs, and unsupported refs', () => {
  const schema = {
    $ref: '#/$defs/node',
    $defs: {
      node: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, child: { $ref: '#/$defs/node' } } },
      'a/b': { type: 'string' },
    },
  };
  assert.deepEqual(checkSchema(schema, { name: 'a', child: { name: 'b', child: { name: 'c' } } }), []);
  assert.deepEqual(checkSchema(schema, { name: 'a', child: { child: { name: 3 } } }), ['child.name: is required', 'child.child.name: must be string (got integer)']);
  assert.deepEqual(checkSchema({ ...schema, $ref: '#/$defs/a~1b' }, 'x'), []);
  assert.deepEqual(checkSchema({ $ref: 'http://example.com/s.json' }, 1), ['schema error: unsupported or missing $ref "http://example.com/s.json" (only #/$defs/... is supported)']);
  assert.deepEqual(checkSchema({ $ref: '#/properties/a' }, 1).length, 1);
  assert.deepEqual(checkSchema({ $ref: '#/$defs/missing', $defs: {} }, 1).length, 1);
});

test('keywords next to $ref apply too (2020-12)', () => {
  const schema = { $defs: { s: { type: 'string' } }, $ref: '#/$defs/s', maxLength: 2 };
  assert.deepEqual(checkSchema(schema, 'abc'), ['must be at most 2 characters long']);
});

test('anyOf and oneOf, with the closest branch explained', () => {
  const anyOf = { anyOf: [{ type: 'string' }, { type: 'object', required: ['id'] }] };
  assert.deepEqual(checkSchema(anyOf, 'x'), []);
  assert.deepEqual(checkSchema(anyOf, { id: 1 }), []);
  assert.deepEqual(checkSchema(anyOf, {}), ['must match at least one schema in anyOf (closest: branch 1)', 'id: is required']);
  const oneOf = { oneOf: [{ type: 'integer' }, { type: 'number', minimum: 10 }] };
  assert.deepEqual(checkSchema(oneOf, 3), []);
  assert.deepEqual(checkSchema(oneOf, 10.5), []);
  assert.deepEqual(checkSchema(oneOf, 12), ['must match exactly one schema in oneOf (matched branches 0, 1)']);
  assert.deepEqual(checkSchema(oneOf, 'x'), ['must match exactly one schema in oneOf (closest: branch 0)', 'must be integer (got string)']);
  assert.deepEqual(checkSchema({ anyOf: [] }, 1), ['must match at least one schema in anyOf']);
});

test('boolean schemas and unknown keywords', () => {
  assert.deepEqual(checkSchema({ properties: { a: true, b: false } }, { a: 1, b: 2 }), ['b: is not allowed']);
  assert.deepEqual(checkSchema({ format: 'date-time', title: 'x', whatever: 1 }, 'not a date'), []);
});

test('deep hostile input stops at the depth bound instead of overflowing the stack', () => {
  const schema = { $ref: '#/$defs/list', $defs: { list: { type: 'array', items: { $ref: '#/$defs/list' } } } };
  let deep: unknown = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const errors = checkSchema(schema, deep);
  assert.equal(errors.length, 1);
  assert.match(errors[0], /nested deeper than 64 levels$/);
  assert.ok(errors[0].startsWith('[0][0][0]'));
  // A schema that refers to itself without consuming the value is stopped the same way.
  assert.match(checkSchema({ $ref: '#/$defs/a', $defs: { a: { $ref: '#/$defs/a' } } }, 1)[0], /nested deeper/);
});

test('exponential anyOf over recursive refs is cut by the work budget', () => {
  const schema = { $ref: '#/$defs/a', $defs: { a: { anyOf: [{ $ref: '#/$defs/a' }, { $ref: '#/$defs/a' }, { const: 'never' }] } } };
  const start = performance.now();
  const errors = checkSchema(schema, 1);
  assert.ok(performance.now() - start < 10_000);
  assert.ok(errors.some((e) => e.includes('validation stopped')));
});

test('errors are capped at 50', () => {
  const errors = checkSchema({ type: 'array', items: { type: 'string' } }, Array.from({ length: 500 }, (_, i) => i));
  assert.equal(errors.length, 50);
  assert.equal(errors[0], '[0]: must be string (got integer)');
});

test('hostile values and schemas never throw', () => {
  assert.doesNotThrow(() => checkSchema({ const: 1n } as object, 1));
  assert.doesNotThrow(() => checkSchema({ properties: { a: 5 } }, { a: 1 }));
  assert.deepEqual(checkSchema({ properties: { a: 5 } }, { a: 1 }), ['a: schema error: 5 is not a schema']);
  assert.deepEqual(checkSchema({ type: 'object', properties: { ['__proto__']: { type: 'string' } } }, JSON.parse('{"__proto__": 1}')), [
    '__proto__: must be string (got integer)',
  ]);
});

test('docs/bundle-schema.json: a real manifest passes; a broken one names the path', () => {
  const schema = JSON.parse(readFileSync(join(ROOT, 'docs', 'bundle-schema.json'), 'utf8')) as object;
  const manifest = {
    format: 'autopsy-bundle',
    formatVersion: 1,
    id: '20240101T000000Z-123-abc',
    reason: 'uncaught-exception',
    time: '2024-01-01T00:00:00.000Z',
    pid: 123,
    ppid: 1,
    hostname: 'host',
    threadId: 0,
    uptimeSeconds: 1.5,
    cwd: '/srv/app',
    node: 'v20.20.2',
    v8: '11.3',
    platform: 'linux',
    arch: 'x64',
    argv: ['node', 'app.js'],
    execArgv: [],
    hook: { version: '0.1.0', addon: 'unavailable' },
    files: [{ name: 'error.json', size: 10, sha256: 'a'.repeat(64) }],
    redacted: ['GITHUB_TOKEN'],
  };
  assert.deepEqual(checkSchema(schema, manifest), []);
  const broken = { ...manifest, files: [...manifest.files, manifest.files[0], { name: '../x', size: -1, sha256: 'XYZ', extra: 1 }] };
  assert.deepEqual(checkSchema(schema, broken), [
    'files[2].name: must match ^(?!/)(?!.*(^|/)\\.\\.(/|$))[A-Za-z0-9._/-]+$',
    'files[2].size: must be >= 0',
    'files[2].sha256: must match ^[0-9a-f]{64}$',
    'files[2].extra: is not allowed',
  ]);
  const defs = (schema as { $defs: object }).$defs;
  const record = { kind: 'error', name: 'Error', message: 'x', frames: [{ function: 'f', file: 'a.js', line: 1, column: 'x' }], cause: { kind: 'value' } };
  assert.deepEqual(checkSchema({ $defs: defs, $ref: '#/$defs/errorRecord' }, record), [
    'frames[0].column: must be integer (got string)',
    'cause.name: is required',
    'cause.message: is required',
    'cause.frames: is required',
  ]);
});
