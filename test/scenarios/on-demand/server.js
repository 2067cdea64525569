// A long-running service: breadcrumbs via the API, answers on-demand dumps, keeps running.
const { breadcrumb } = require('autopsy-ts');
let n = 0;
const t = setInterval(() => { breadcrumb('tick', { n: ++n }); }, 20);
breadcrumb('service started', { port: 0 });
console.log('ready');
setTimeout(() => { clearInterval(t); console.log('finished', n > 0); }, Number(process.argv[2] || 3000));
