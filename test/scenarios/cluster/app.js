// A cluster whose two workers crash at the same moment; the primary must live on and say so.
const cluster = require('node:cluster');
if (cluster.isPrimary) {
  let exited = 0;
  cluster.on('exit', (worker, code) => {
    console.log(`worker ${worker.process.pid} exited with ${code}`);
    if (++exited === 2) setTimeout(() => { console.log('primary still alive'); process.exit(0); }, 100);
  });
  const at = Date.now() + 300;
  for (let i = 0; i < 2; i++) cluster.fork({ CRASH_AT: String(at) });
} else {
  setTimeout(() => { throw new Error(`worker ${process.pid} crashed`); }, Math.max(0, Number(process.env.CRASH_AT) - Date.now()));
}
