// A service holding about HEAP_MB of V8 heap (default 1024), serving HTTP, with a 5 ms ticker that
// records the longest gap. Prints "ready <port>"; GET /stats answers {maxGapMs, ticks, records}; GET /reset also zeroes maxGapMs first.
// Prints "ready <port> <marker>", the marker being a string in the heap. Ends on SIGTERM, or after argv[2] ms.
const http = require('node:http');

class AppRecord {
  constructor(i) {
    this.id = i;
    this.label = 'app-record-' + i;
  }
}

// A flat string that the test looks for in the core: the V8 heap is really there.
const marker = ['autopsy', 'heap', 'marker', process.pid, Date.now()].join('-');
const heapMb = Number(process.env.HEAP_MB || 1024);
const chunks = [];
for (let mb = 0; mb < heapMb; mb += 8) chunks.push(new Array(1024 * 1024).fill(mb + 0.5)); // 8 MB of doubles each
const records = [];
for (let i = 0; i < 50000; i++) records.push(new AppRecord(i));

let last = Date.now();
let maxGapMs = 0;
let ticks = 0;
let measuring = false;
setInterval(() => {
  const now = Date.now();
  if (measuring) maxGapMs = Math.max(maxGapMs, now - last);
  last = now;
  ticks++;
}, 5);
setTimeout(() => (measuring = true), 200);

const server = http.createServer((req, res) => {
  if (req.url === '/reset') maxGapMs = 0; // the benchmark measures each dump alone
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ maxGapMs, ticks, records: records.length, chunks: chunks.length }));
});
server.listen(0, '127.0.0.1', () => console.log(`ready ${server.address().port} ${marker}`));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
setTimeout(stop, Number(process.argv[2] || 60000)).unref();
