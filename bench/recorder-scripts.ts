/**
 * Child scripts for bench/recorder.ts, passed with `node -e`.
 * SERVER: an HTTP hello-world that prints its port, then its VmRSS when asked on stdin.
 * LOAD: keeps `conns` keep-alive requests in flight against a port for `ms`, prints the count.
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
  console.log('rss ' + JSON.stringify({ rss: kb('VmRSS'), hwm: kb('VmHWM') }));
});
`;

export const LOAD = `
const http = require('node:http');
const [port, conns, ms] = process.argv.slice(1).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
let done = 0, errors = 0, stop = false;
const one = () => {
  if (stop) return;
  http.get({ host: '127.0.0.1', port, path: '/hello?id=' + done, agent }, (res) => {
    res.resume();
    res.on('end', () => { done++; one(); });
  }).on('error', () => { errors++; if (!stop) setTimeout(one, 5); });
};
for (let i = 0; i < conns; i++) one();
setTimeout(() => { stop = true; console.log(JSON.stringify({ done, errors })); process.exit(0); }, ms);
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
