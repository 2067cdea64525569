// A service that leaks: every "leak N" line on stdin creates N orders that nobody removes from
// pendingOrders. The test snapshots before and after and expects the diff to say +N exactly.
class Order {
  constructor(id) {
    this.id = id;
    this.lines = [{ sku: 'widget', qty: 1 }];
    this.createdAt = Date.now();
  }
}
const pendingOrders = [];
function enqueue(n) {
  for (let i = 0; i < n; i++) pendingOrders.push(new Order(pendingOrders.length));
}
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    const m = /^leak (\d+)$/.exec(line);
    if (m) {
      enqueue(Number(m[1]));
      console.log(`leaked ${m[1]}`);
    }
    if (line === 'exit') process.exit(0);
  }
});
enqueue(100);
console.log('ready');
