// A client holding a connection to a TCP server (a "database") given as argv[2]; the server goes away.
// Like a driver that buffers, the app does not crash: it just goes on queueing work.
const net = require('node:net');
const port = Number(process.argv[2]);
const queue = [];
const sock = net.connect(port, '127.0.0.1', () => console.log('connected'));
sock.on('error', () => {});
sock.on('close', () => console.log('lost'));
setInterval(() => queue.push({ sql: 'insert', at: Date.now() }), 20);
