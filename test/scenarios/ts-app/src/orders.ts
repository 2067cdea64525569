// A TypeScript app, compiled by the test with source maps; the bundle's first frame must be this file.
interface Order {
  id: string;
  total?: number;
}

export function priceOf(order: Order): number {
  if (order.total === undefined) {
    throw new RangeError(`order ${order.id} has no total`);
  }
  return order.total;
}

export function checkout(orders: Order[]): number {
  let sum = 0;
  for (const o of orders) sum += priceOf(o);
  return sum;
}

setTimeout(() => checkout([{ id: 'o-1', total: 3 }, { id: 'o-2' }]), 1);
