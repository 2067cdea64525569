/**
 * The real snapshot of bench/heap.ts: a small HTTP server that keeps sessions (a class with a user,
 * a cart, a Date) and a response cache. A keep-alive client in the same process logs in `sessions`
 * users in batches of 500 (at least 50 requests), then the server writes its own heap snapshot with
 * v8.writeHeapSnapshot. Run as `node -e REAL_APP <out.heapsnapshot> <sessions>`; prints one JSON line.
 */
export const REAL_APP = `'use strict';
// A small HTTP server that keeps sessions and a response cache; the parent asks it for a snapshot.
const http = require('node:http');
const v8 = require('node:v8');
const [out, wanted] = [process.argv[1], Number(process.argv[2] || 0)];
class User { constructor(id) { this.name = 'user' + id; this.email = 'user' + id + '@example.com'; this.roles = id % 10 === 0 ? ['reader', 'admin'] : ['reader']; } }
class Session {
  constructor(id, agent) { this.id = 'sess-' + id.toString(36); this.user = new User(id); this.agent = agent; this.created = new Date(1.7e12 + id); this.cart = []; this.hits = 0; }
}
const sessions = new Map();
const cache = new Map();
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/login') {
    const from = Number(url.searchParams.get('from'));
    const n = Number(url.searchParams.get('n'));
    for (let id = from; id < from + n; id++) {
      const s = new Session(id, req.headers['user-agent']);
      s.cart.push({ sku: 'sku-' + (id % 5000), qty: 1 + (id % 3), price: (id % 97) + 0.25 });
      sessions.set(s.id, s);
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ sessions: sessions.size }));
  } else if (url.pathname === '/item') {
    const sku = url.searchParams.get('sku');
    let body = cache.get(sku);
    if (!body) cache.set(sku, (body = JSON.stringify({ sku, title: 'Item ' + sku, tags: ['a', 'b', sku.slice(-2)] })));
    res.end(body);
  } else {
    res.statusCode = 404;
    res.end();
  }
});
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const get = (path) => new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent, headers: { 'user-agent': 'bench-client/1.0' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
  const batch = 500;
  let requests = 0;
  for (let from = 0; from < wanted || requests < 50; from += batch) {
    const n = Math.max(0, Math.min(batch, wanted - from));
    await Promise.all([get(\`/login?from=\${from}&n=\${n}\`), get(\`/item?sku=sku-\${requests % 5000}\`)]);
    requests += 2;
  }
  agent.destroy();
  const file = v8.writeHeapSnapshot(out);
  server.close();
  const mu = process.memoryUsage();
  console.log(JSON.stringify({ file, requests, sessions: sessions.size, heapUsed: mu.heapUsed, rss: mu.rss }));
});
`;
