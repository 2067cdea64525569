// HTTP server and client traffic (one request slower than 1 s), a child that exits 3, a worker that
// exits 2, a handled SIGTERM.
const http = require('node:http');
const { spawn } = require('node:child_process');
const { Worker } = require('node:worker_threads');
process.on('SIGTERM', () => console.log('got SIGTERM, carrying on'));
const srv = http.createServer((req, res) => {
  res.statusCode = req.url.startsWith('/fail') ? 500 : 200;
  if (req.url.startsWith('/slow')) setTimeout(() => res.end('ok'), 1100);
  else res.end('ok');
});
srv.listen(0, '127.0.0.1', async () => {
  const base = `http://127.0.0.1:${srv.address().port}`;
  const get = (p) => new Promise((r) => http.get(base + p, (res) => { res.resume(); res.on('end', r); }).on('error', r));
  await get('/orders?token=abc');
  await get('/fail/now');
  await get('/slow');
  await fetch(base + '/via-fetch?x=1').then((r) => r.text());
  await new Promise((r) => spawn(process.execPath, ['-e', 'process.exit(3)']).on('exit', r));
  await new Promise((r) => new Worker('process.exit(2)', { eval: true }).on('exit', r));
  console.log('ready');
});
