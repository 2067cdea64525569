// Leaks LeakyOrder objects until V8 runs out of heap (run with --max-old-space-size=64).
class LeakyOrder {
  constructor(i) {
    this.id = i;
    this.customer = 'customer-' + (i % 1000);
    this.lines = [i, i + 1, i + 2];
  }
}
const pendingOrders = [];
setInterval(() => {
  for (let i = 0; i < 1000; i++) pendingOrders.push(new LeakyOrder(pendingOrders.length));
}, 10);
