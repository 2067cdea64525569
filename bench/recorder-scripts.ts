/**
 * Child scripts for bench/recorder.ts, passed with `node -e`.
 * SERVER: an HTTP hello-world that prints its port, then its VmRSS when asked on stdin.
 * LOAD_MULTI: load for several servers in turns, with marks between the turns.
 * EVENTS: the cost of one recorded event in a process with the hook (argv: hook path, n).
 */
export const SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const srv = http.createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end('hello world'); });
srv.listen(0, '127.0.0.1', () => console.log('port ' + srv.address().port));
process.stdin.on('data', (d) => {
  // "exit": end cleanly, so that the recorder is removed and the next run has nothing to collect.
  if (String(d).startsWith('exit')) process.exit(0);
  const st = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number((new RegExp(k + ':\\\\s+(\\\\d+)').exec(st) || [])[1]);
  console.log('rss ' + JSON.stringify({ rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon') }));
});
`;

/**
 * Load for several servers at once, in turns (argv: warm ms, slice ms, slices, conns, port...). It
 * keeps \`conns\` keep-alive connections to each server with one request in flight on each (no
 * pipelining), and gives the whole load to one server at a time: each server in turn for the warm-up,
 * then \`slices\` slices in rotation. The client is raw sockets that count the responses by their body,
 * so that one CPU of load saturates one CPU of server, as wrk or autocannon would (Node's http client
 * cannot: it costs more per request than the server it measures). After the warm-up and after each
 * slice it prints \`mark {"k": server of the slice that ended (-1 after the warm-up), "done": [...]}\`.
 */
export const LOAD_MULTI = `
const net = require('node:net');
const [warm, slice, slices, conns, ...ports] = process.argv.slice(1).map(Number);
const REQ = Buffer.from('GET /hello?id=1 HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n');
const BODY = 'hello world';
const done = ports.map(() => 0);
let active = 0, stopped = false;
const clients = ports.map((port, k) => Array.from({ length: conns }, () => {
  const s = net.connect(port, '127.0.0.1');
  s.setNoDelay(true);
  let tail = '', waiting = false;
  const ask = () => { if (!stopped && active === k && !waiting) { waiting = true; s.write(REQ); } };
  s.on('data', (d) => {
    const text = tail + d.toString('latin1');
    let i = 0, n = 0;
    while ((i = text.indexOf(BODY, i)) >= 0) { n++; i += BODY.length; }
    tail = text.slice(1 - BODY.length);
    if (n) { done[k] += n; waiting = false; ask(); }
  });
  s.on('error', (err) => { console.error('load: ' + err.message); process.exit(1); });
  return ask;
}));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const give = (k) => { active = k; for (const ask of clients[k]) ask(); };
(async () => {
  for (let k = 0; k < ports.length; k++) { give(k); await sleep(warm / ports.length); }
  console.log('mark ' + JSON.stringify({ k: -1, done }));
  for (let i = 0; i < slices; i++) {
    give(i % ports.length);
    await sleep(slice);
    console.log('mark ' + JSON.stringify({ k: i % ports.length, done }));
  }
  stopped = true;
  process.exit(0);
})();
`;

export const EVENTS = `
const [hook, n] = [process.argv[1], Number(process.argv[2])];
require(hook);
const api = require(require('node:path').join(hook, '..', '..', 'index.js'));
setTimeout(() => {
  const flush = require(require('node:path').join(hook, '..', 'recorder-file.js')).flush;
  // Warm up, then: record() alone (ring push + pending queue), then the flush of those events.
  for (let i = 0; i < 20000; i++) api.breadcrumb('warm', { i });
  flush();
  // What the recorder's own sources pay: record() of a ready event (ring push, persistence queue).
  const { record } = require(require('node:path').join(hook, '..', 'state.js'));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) record({ time: Date.now(), kind: 'net', event: 'close', remoteAddress: '10.0.0.1', remotePort: 5432 + (i & 7), durationMs: i });
  const t1 = process.hrtime.bigint();
  flush();
  const t2 = process.hrtime.bigint();
  // The API: breadcrumb() also makes a bounded preview of its data.
  for (let i = 0; i < n; i++) api.breadcrumb('order queued', { i, id: 'A-' + i });
  const t3 = process.hrtime.bigint();
  flush();
  console.log(JSON.stringify({ recordNs: Number(t1 - t0) / n, persistNs: Number(t2 - t1) / n, breadcrumbNs: Number(t3 - t2) / n }));
  process.exit(0);
}, 300);
`;

/**
 * CPU per HTTP request of the hook's diagnostics_channel subscribers: the server's start and finish
 * messages published n times with Node's message shape (argv: hook path or "", n), median of 3 runs.
 */
export const CHANNELS = `
const dc = require('node:diagnostics_channel');
const [hook, n] = [process.argv[1], Number(process.argv[2])];
if (hook) require(hook);
setTimeout(() => {
  const start = dc.channel('http.server.request.start');
  const finish = dc.channel('http.server.response.finish');
  const reqs = [];
  for (let i = 0; i < 1000; i++) reqs.push({ method: 'GET', url: '/hello?id=' + i });
  const run = () => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const msg = { request: reqs[i % 1000], response: { statusCode: 200 }, socket: null, server: null };
      if (start.hasSubscribers) start.publish(msg);
      if (finish.hasSubscribers) finish.publish(msg);
    }
    const c = process.cpuUsage(t0);
    return ((c.user + c.system) * 1000) / n;
  };
  run();
  console.log(JSON.stringify({ ns: [run(), run(), run()].sort((a, b) => a - b)[1] }));
  process.exit(0);
}, 400);
`;
