// A billing job that crashes: the database layer fails, the error is wrapped with a cause,
// and the wrapper escapes a timer callback as an uncaught exception.
// Run: node --require autopsy-ts/hook dist/examples/invoice-crash.js
import { breadcrumb } from 'autopsy-ts';

interface Order {
  id: string;
  customer: string;
  lines: { sku: string; qty: number; price: number }[];
}

class DatabaseError extends Error {
  constructor(message: string, readonly code: string, readonly query: string) {
    super(message);
    this.name = 'DatabaseError';
  }
}

function fetchCustomer(id: string): never {
  throw new DatabaseError(`connection reset while reading customer ${id}`, 'ECONNRESET', 'SELECT * FROM customers WHERE id = $1');
}

function renderInvoice(order: Order): string {
  try {
    const customer = fetchCustomer(order.customer);
    return `${customer}: ${order.lines.length} lines`;
  } catch (err) {
    throw new Error(`cannot render invoice for order ${order.id}`, { cause: err });
  }
}

function runBillingJob(orders: Order[]): void {
  for (const order of orders) {
    breadcrumb('rendering invoice', { order: order.id, lines: order.lines.length });
    renderInvoice(order);
  }
}

breadcrumb('billing job started', { orders: 2 });
setTimeout(() => {
  runBillingJob([
    { id: 'A-1001', customer: 'c-42', lines: [{ sku: 'widget', qty: 3, price: 9.5 }] },
    { id: 'A-1002', customer: 'c-43', lines: [] },
  ]);
}, 10);
