// A service whose database is gone: every connection attempt is refused, and the retry loop
// rejects with an AggregateError that nobody awaits: an unhandled rejection.
// Run: node --require autopsy-ts/hook dist/examples/lost-connection.js
import { connect } from 'node:net';
import { breadcrumb } from 'autopsy-ts';

function tryConnect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('error', reject);
  });
}

async function connectWithRetry(ports: number[]): Promise<void> {
  const failures: unknown[] = [];
  for (const port of ports) {
    breadcrumb('connecting to database', { host: '127.0.0.1', port });
    try {
      return await tryConnect(port);
    } catch (err) {
      failures.push(err);
    }
  }
  throw new AggregateError(failures, `database unreachable after ${ports.length} attempts`);
}

// Port 1 is never served here; 9 (discard) neither, on a normal machine.
void connectWithRetry([1, 9]);
