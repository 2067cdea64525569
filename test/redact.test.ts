import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers';
import { createRedactor, looksSecret, parseRedactList, REDACTED } from '../src/bundle/redact';

test('looksSecret: secret words, case-insensitive, camelCase and flags', () => {
  for (const name of [
    'GITHUB_TOKEN', 'npm_token', 'CLIENT_SECRET', 'DB_PASSWORD', 'PASSWD', 'MYSQL_PWD', 'DB_PASS', 'GPG_PASSPHRASE',
    'API_KEY', 'APIKEY', 'apiKey', 'AWS_ACCESS_KEY_ID', 'API_KEYS', 'GOOGLE_APPLICATION_CREDENTIALS', 'AUTH', 'OAUTH_CLIENT',
    'HTTP_AUTHORIZATION', 'SESSION_ID', 'COOKIE', 'SENTRY_DSN', 'PRIVATE_KEY', 'api-key', 'db.password', 'sessionCookie',
  ]) {
    assert.equal(looksSecret(name), true, name);
  }
});

test('looksSecret: PWD/OLDPWD and other well-known non-secrets are not secret', () => {
  for (const name of [
    'PWD', 'pwd', 'OLDPWD', 'HOME', 'PATH', 'NODE_ENV', 'KEYBOARD_LAYOUT', 'keyboardLayout', 'KEYCHAIN', 'npm_package_author_name',
    'XAUTHORITY', 'DESKTOP_SESSION', 'XDG_SESSION_TYPE', 'DBUS_SESSION_BUS_ADDRESS', 'SSH_AUTH_SOCK', 'BYPASS_CACHE', 'PASSENGER_APP_ENV',
    '', 'require', 'inspect-brk',
  ]) {
    assert.equal(looksSecret(name), false, name);
  }
});

test('looksSecret: extra patterns win, even over the PWD exemption', () => {
  assert.equal(looksSecret('STRIPE_SK', [/^stripe_sk$/i]), true);
  assert.equal(looksSecret('PWD', [/^PWD$/]), true);
  assert.equal(looksSecret('HOME', [/^STRIPE/]), false);
  assert.equal(looksSecret('X', [/x/gi]), true);
  assert.equal(looksSecret('X', [/x/gi]), true, 'a global flag must not make the test stateful');
});

test('parseRedactList: names and /regex/flags, commas inside regexes, invalid ones skipped', () => {
  const res = parseRedactList(' STRIPE_SK , /^acme_[a-z]{1,3}$/i,/(/, other-name');
  assert.equal(res.length, 3);
  assert.ok(res[0].test('stripe-sk') && res[0].test('STRIPE_SK') && !res[0].test('STRIPE_SKX'));
  assert.ok(res[1].test('ACME_ab') && !res[1].test('acme_abcd'));
  assert.ok(res[2].test('OTHER_NAME'));
  assert.deepEqual(parseRedactList(undefined), []);
  assert.deepEqual(parseRedactList(''), []);
  assert.equal(parseRedactList(['A', 'B,C']).length, 3);
});

test('createRedactor: names are sorted, unique, and never values; PWD untouched', () => {
  const r = createRedactor(
    { PWD: '/home/app/project', OLDPWD: '/home/app', B_TOKEN: 'tok-123456', A_SECRET: 'abcdefgh', EMPTY_TOKEN: '', HOME: '/home/app' },
    ['node', 'app.js', '--api-key=key-999999', '--token', 'tok-123456'],
  );
  assert.deepEqual(r.names, ['--api-key', '--token', 'A_SECRET', 'B_TOKEN']);
  assert.equal(r.redactString('cwd /home/app/project'), 'cwd /home/app/project');
});

test('redactString: replaces known values everywhere, longest first', () => {
  const r = createRedactor({ A_TOKEN: 'abcdef', B_TOKEN: 'abcdefgh' }, []);
  assert.equal(r.redactString('x abcdefgh y abcdef z'), `x ${REDACTED} y ${REDACTED} z`);
  assert.equal(r.redactString('xxabcdefghyy'), `xx${REDACTED}yy`);
  assert.equal(r.redactString('nothing here'), 'nothing here');
});

test('short values are redacted at their named place but not replaced globally', () => {
  const r = createRedactor({ FEATURE_TOKEN: 'true', API_KEY: 'k1' }, []);
  assert.deepEqual(r.names, ['API_KEY', 'FEATURE_TOKEN']);
  assert.equal(r.redactString('enabled: true'), 'enabled: true');
  assert.deepEqual(r.redactEnv({ FEATURE_TOKEN: 'true', API_KEY: 'k1', DEBUG: 'true' }), { FEATURE_TOKEN: REDACTED, API_KEY: REDACTED, DEBUG: 'true' });
});

test('URL passwords are redacted anywhere; an env var holding one is named and its password is global', () => {
  const r = createRedactor({ DATABASE_URL: 'postgres://app:hunter2%40x@db:5432/app', HOME: '/root' }, []);
  assert.deepEqual(r.names, ['DATABASE_URL']);
  assert.equal(r.redactString('connect postgres://app:hunter2%40x@db:5432/app failed'), `connect postgres://app:${REDACTED}@db:5432/app failed`);
  assert.equal(r.redactString('password was hunter2@x'), `password was ${REDACTED}`, 'decoded form is a secret too');
  assert.equal(r.redactString('redis://:pw@cache:6379'), `redis://:${REDACTED}@cache:6379`);
  assert.equal(r.redactString('mongodb+srv://u:p:q@host/x'), `mongodb+srv://u:${REDACTED}@host/x`);
  assert.equal(r.redactString('https://user@host/path and http://host:80/a:b@c'), 'https://user@host/path and http://host:80/a:b@c');
  assert.deepEqual(r.redactEnv({ DATABASE_URL: 'postgres://app:hunter2%40x@db:5432/app' }), { DATABASE_URL: `postgres://app:${REDACTED}@db:5432/app` });
});

test('redactArgv: --flag=value, --flag value, single dash long flags, URL passwords, booleans', () => {
  const r = createRedactor({}, []);
  const argv = [
    '/usr/bin/node', 'app.js', '--password=hunter22', '--token', 'abc', '--api-key=xyz', '-secret=s3cr3t!', '--no-auth', '--verbose',
    '--auth', '--port', '8080', '--db=postgres://u:pw@h/db', 'https://a:b@c', '-p', 'x', '--cookie=', '--session',
  ];
  assert.deepEqual(r.redactArgv(argv), [
    '/usr/bin/node', 'app.js', `--password=${REDACTED}`, '--token', REDACTED, `--api-key=${REDACTED}`, `-secret=${REDACTED}`, '--no-auth', '--verbose',
    '--auth', '--port', '8080', `--db=postgres://u:${REDACTED}@h/db`, `https://a:${REDACTED}@c`, '-p', 'x', '--cookie=', '--session',
  ]);
  assert.deepEqual(r.names, ['--api-key', '--db', '--password', '--token', '-secret', 'argv']);
  // hunter22 is long enough to be replaced elsewhere too; "abc" is not.
  assert.equal(r.redactString('pw hunter22 abc'), `pw ${REDACTED} abc`);
});

test('createRedactor learns argv secrets, extraNames and AUTOPSY_REDACT', () => {
  const r = createRedactor({ STRIPE_SK: 'sk_live_123456', ACME_X: 'acme-value-1', AUTOPSY_REDACT: '/^acme_/i' }, ['node', '--secret-file', 'shh-secret-path'], ['STRIPE_SK']);
  assert.deepEqual(r.names, ['--secret-file', 'ACME_X', 'STRIPE_SK']);
  assert.equal(r.redactString('sk_live_123456 acme-value-1 shh-secret-path'), `${REDACTED} ${REDACTED} ${REDACTED}`);
});

test('redactEnv: secret names redacted, others scrubbed, undefined dropped, PWD kept, learns new secrets', () => {
  const r = createRedactor({}, []);
  const out = r.redactEnv({ PWD: '/srv/app', NEW_TOKEN: 'learned-later-1', NOTE: 'uses learned-later-1', GONE: undefined, ['__proto__']: 'x' });
  assert.equal(out.PWD, '/srv/app');
  assert.equal(out.NEW_TOKEN, REDACTED);
  assert.equal(out.NOTE, `uses ${REDACTED}`);
  assert.ok(!('GONE' in out));
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, 'x');
  assert.deepEqual(r.names, ['NEW_TOKEN']);
  assert.equal(r.redactString('later: learned-later-1'), `later: ${REDACTED}`);
});

const nasty = [
  'quo"te\\back\\\\slash',
  'unicodé-☃-𝄞-secret',
  'line1\nline2\ttab',
  '"]}, {"x": 1',
  'nfoobar-secret',
  '00e9abcdef',
  '123456',
  '\\u0041BCDEF',
  'ctl\u0001\u001fchars',
  'lone\ud800surrogate',
];

test('redactJsonText keeps JSON valid and removes secrets with quotes, backslashes, unicode', () => {
  const env: Record<string, string> = {};
  nasty.forEach((v, i) => (env[`S${i}_TOKEN`] = v));
  const r = createRedactor(env, []);
  const doc = {
    pid: 1234567,
    list: [123456, '123456', 1234567.5],
    messages: nasty.map((v) => `before ${v} after`),
    exact: nasty,
    neighbours: ['\nfoobar-secret', '\u00e9abcdef', 'x\\nfoobar-secret'],
    nested: { deeper: [{ s: `${nasty[1]}${nasty[0]}` }] },
  };
  for (const text of [JSON.stringify(doc), JSON.stringify(doc, null, 2), asciiJson(JSON.stringify(doc))]) {
    const out = r.redactJsonText(text);
    const parsed = JSON.parse(out);
    const flat = JSON.stringify(parsed);
    for (const v of nasty) {
      for (const s of parsed.messages.concat(parsed.exact, parsed.nested.deeper[0].s)) assert.ok(!String(s).includes(v), `${JSON.stringify(v)} in ${JSON.stringify(s)}`);
    }
    assert.equal(parsed.pid, 1234567, 'numbers outside strings are left alone');
    assert.deepEqual(parsed.list, [123456, REDACTED, 1234567.5]);
    assert.deepEqual(parsed.neighbours.slice(0, 2), ['\nfoobar-secret', '\u00e9abcdef'], 'an escape followed by text is not a secret');
    assert.equal(parsed.neighbours[2], `x\\${REDACTED}`, 'after an escaped backslash it is');
    assert.ok(flat.includes(`before ${REDACTED} after`));
  }
});

function asciiJson(s: string): string {
  return s.replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

test('redactJsonText: values of secret-looking keys, URL passwords, invalid input', () => {
  const r = createRedactor({}, []);
  const text = JSON.stringify({ props: { password: 'pw', pin: 1234, sessionToken: 12.5, apiKey: '', token: { a: 'b' } }, url: 'amqp://guest:guest@mq/', note: '"token": "x"' }, null, 1);
  const parsed = JSON.parse(r.redactJsonText(text));
  assert.deepEqual(parsed, {
    props: { password: REDACTED, pin: 1234, sessionToken: REDACTED, apiKey: '', token: { a: 'b' } },
    url: `amqp://guest:${REDACTED}@mq/`,
    note: '"token": "x"',
  });
  assert.equal(r.redactJsonText('not json'), 'not json');
  assert.equal(r.redactJsonText('{"token": "unterminated'), '{"token": "unterminated');
  assert.equal(r.redactJsonText(''), '');
});

test('redactReport on a real diagnostic report leaks no secret value', () => {
  const secret = 'Sup3r"Secr\\et-☃-value';
  const urlPassword = 'db-pass-777';
  const script = `
    const err = new Error('login failed for ' + process.env.MY_APP_TOKEN);
    process.stdout.write(JSON.stringify(process.report.getReport(err)));
  `;
  const env: NodeJS.ProcessEnv = { ...process.env, MY_APP_TOKEN: secret, SHORT_SECRET: 'abc', DATABASE_URL: `mysql://root:${urlPassword}@localhost/db` };
  delete env.NODE_OPTIONS;
  const argv = ['-e', script, '--', '--client-secret', 'argv-secret-42'];
  const child = spawnSync(process.execPath, argv, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(child.status, 0, child.stderr);
  const raw = child.stdout;
  const report = JSON.parse(raw);
  assert.ok(raw.includes(JSON.stringify(secret).slice(1, -1)), 'the raw report holds the secret');

  const r = createRedactor(report.environmentVariables, report.header.commandLine);
  const redacted = r.redactReport(report);
  const text = JSON.stringify(redacted);
  for (const v of [secret, urlPassword, 'argv-secret-42']) {
    assert.ok(!text.includes(JSON.stringify(v).slice(1, -1)), `${v} leaked`);
  }
  assert.equal(redacted.environmentVariables.MY_APP_TOKEN, REDACTED);
  assert.equal(redacted.environmentVariables.SHORT_SECRET, REDACTED);
  assert.equal(redacted.environmentVariables.PWD, report.environmentVariables.PWD);
  assert.ok(redacted.javascriptStack.message.includes(REDACTED));
  assert.ok(redacted.header.commandLine.includes(REDACTED));
  assert.notEqual(redacted, report, 'a new object');
  assert.equal(report.environmentVariables.MY_APP_TOKEN, secret, 'the input is not modified');
  for (const name of ['MY_APP_TOKEN', 'SHORT_SECRET', 'DATABASE_URL', '--client-secret']) assert.ok(r.names.includes(name), name);

  // A redactor that did not know the env beforehand learns it from the report itself.
  const fresh = createRedactor({}, []);
  const text2 = JSON.stringify(fresh.redactReport(report));
  for (const v of [secret, urlPassword, 'argv-secret-42']) assert.ok(!text2.includes(JSON.stringify(v).slice(1, -1)), `${v} leaked (fresh)`);

  // The raw text, redacted as JSON text, stays valid and loses every secret as well.
  const textOut = r.redactJsonText(raw);
  JSON.parse(textOut);
  for (const v of [secret, urlPassword, 'argv-secret-42']) assert.ok(!textOut.includes(JSON.stringify(v).slice(1, -1)), `${v} leaked (text)`);
});

test('no key of a real report looks secret (besides environment variables)', () => {
  const keys = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v)) {
      if (!Array.isArray(v)) keys.add(k);
      if (k !== 'environmentVariables') walk(x);
    }
  };
  walk(process.report.getReport());
  assert.deepEqual([...keys].filter((k) => looksSecret(k)), []);
});

test('no key of the bundle format (docs/bundle-schema.json) looks secret', () => {
  const schema = JSON.parse(readFileSync(join(ROOT, 'docs', 'bundle-schema.json'), 'utf8'));
  const keys = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'properties' && typeof x === 'object' && x !== null) for (const name of Object.keys(x)) keys.add(name);
      walk(x);
    }
  };
  walk(schema);
  assert.ok(keys.size > 20);
  assert.deepEqual([...keys].filter((k) => looksSecret(k)), []);
});

test('redactReport survives cycles, depth, odd values and throwing getters', () => {
  const r = createRedactor({ X_TOKEN: 'cycle-secret' }, []);
  const a: Record<string, unknown> = { s: 'has cycle-secret', n: 1, b: true, nil: null, u: undefined };
  a.self = a;
  let deep: unknown = 'deep cycle-secret';
  for (let i = 0; i < 200; i++) deep = [deep];
  a.deep = deep;
  const out = r.redactReport(a);
  assert.equal(out.s, `has ${REDACTED}`);
  assert.equal(out.self, '[circular]');
  assert.ok(!JSON.stringify(out).includes('cycle-secret'));
  const hostile = { get header() { throw new Error('boom'); } };
  assert.doesNotThrow(() => r.redactReport(hostile));
  assert.doesNotThrow(() => r.redactReport(undefined));
  assert.equal(r.redactReport('str cycle-secret'), `str ${REDACTED}`);
});

test('never throws on hostile inputs', () => {
  const envProxy = new Proxy({}, { ownKeys() { throw new Error('boom'); } });
  const broken = createRedactor(envProxy as NodeJS.ProcessEnv, []);
  assert.equal(broken.redactString('anything'), REDACTED, 'fails closed');
  assert.deepEqual(broken.names, []);
  const r = createRedactor({}, []);
  assert.doesNotThrow(() => r.redactString(undefined as unknown as string));
  assert.doesNotThrow(() => r.redactArgv([1, null, 'x'] as unknown as string[]));
  assert.doesNotThrow(() => r.redactArgv(undefined as unknown as string[]));
  assert.doesNotThrow(() => r.redactEnv(null as unknown as Record<string, string>));
  assert.doesNotThrow(() => r.redactJsonText(undefined as unknown as string));
  assert.doesNotThrow(() => createRedactor(undefined as unknown as NodeJS.ProcessEnv, undefined as unknown as string[], [undefined as unknown as string]));
});

test('timing sanity: build a redactor from a real-sized env and redact ~1 MB of JSON text', (t) => {
  const env: Record<string, string> = { ...process.env } as Record<string, string>;
  for (let i = 0; i < 40; i++) env[`SVC_${i}_TOKEN`] = `token-value-${i}-${'x'.repeat(i)}`;
  env.DATABASE_URL = 'postgres://u:pass-word-1@db/x';
  const items = [];
  for (let i = 0; i < 8000; i++) {
    const secret = i % 1000 === 3 ? 'token-value-3-xxx' : 'not-a-secret';
    items.push({ i, file: `/srv/app/src/module-${i}.js`, line: i, text: `call ${i} with "${secret}" and \\ backslash`, ...(i % 1000 === 3 ? { key: 'k' } : {}) });
  }
  const text = JSON.stringify({ items }, null, 1);
  const t0 = performance.now();
  const r = createRedactor(env, process.argv);
  const t1 = performance.now();
  const out = r.redactJsonText(text);
  const t2 = performance.now();
  r.redactString(text);
  const t3 = performance.now();
  t.diagnostic(`build ${(t1 - t0).toFixed(1)} ms, ${(text.length / 1e6).toFixed(2)} MB: json ${(t2 - t1).toFixed(1)} ms, string ${(t3 - t2).toFixed(1)} ms`);
  const parsed = JSON.parse(out);
  assert.equal(parsed.items.length, 8000);
  assert.equal(parsed.items[3].text, `call 3 with "${REDACTED}" and \\ backslash`);
  assert.equal(parsed.items[3].key, REDACTED, '"key" looks secret');
  assert.equal(parsed.items[4].text, 'call 4 with "not-a-secret" and \\ backslash');
});
