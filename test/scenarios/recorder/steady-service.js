// A steady service: HTTP requests with lots of garbage and a bounded cache (LRU of 2,000 entries).
const http = require('node:http');
const cache = new Map();
const srv = http.createServer((req, res) => {
  const key = req.url;
  let v = cache.get(key);
  if (!v) {
    v = { body: JSON.stringify({ url: key, rows: Array.from({ length: 50 }, (_, i) => ({ i, s: 'x'.repeat(20) })) }) };
    cache.set(key, v);
    if (cache.size > 2000) cache.delete(cache.keys().next().value);
  }
  res.end(v.body);
});
srv.listen(0, '127.0.0.1', () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let i = 0;
  // Four requests in flight at all times, each followed by the next.
  const one = () => {
    http.get({ host: '127.0.0.1', port: srv.address().port, path: `/item/${i++ % 5000}`, agent }, (res) => {
      res.resume();
      res.on('end', () => setImmediate(one));
    }).on('error', () => setTimeout(one, 10));
  };
  for (let k = 0; k < 4; k++) one();
  if (process.env.STEADY_CHANNELS) {
    // Whether anyone listens to the server's start channel now, printed on each change.
    const start = require('node:diagnostics_channel').channel('http.server.request.start');
    let last;
    setInterval(() => {
      if (start.hasSubscribers !== last) console.log(`server channel ${(last = start.hasSubscribers) ? 'on' : 'off'}`);
    }, 50).unref();
  }
  console.log('ready');
});
